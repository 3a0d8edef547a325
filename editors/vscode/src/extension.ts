// The acdp VS Code extension: starts `acdp lsp` through vscode-languageclient, shows index
// progress in the status bar, and adds the palette commands (Ask, Export dataset, Train,
// Reindex, Show chunk), the "acdp Samples" review view, and progress with Cancel for the
// long jobs that can be cancelled (training). Hover and code actions come from the language
// client as they are. Requests the server does not have yet end in one warning, not an error.
import { randomBytes } from 'crypto';
import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';
import { escapeHtml, renderAnswerHtml } from './answerView';
import { ListedSample, renderSampleHtml, SampleViewMessage } from './samples';
import { SamplesView, sampleIdOf } from './samplesView';
import { missingServerMessage, resolveServer } from './serverPath';
import {
  AskResult,
  AskTask,
  EvalResult,
  ChunkInfo,
  COMMANDS,
  compactSettings,
  describeError,
  EditFile,
  isTrainingToken,
  METHODS,
  progressText,
  ReindexSummary,
  TrainReport,
} from './protocol';

const SCHEME = 'acdp';

let client: LanguageClient | undefined;
let statusBar: vscode.StatusBarItem;
let samplesView: SamplesView;
let samplePanel: vscode.WebviewPanel | undefined;
/** The token of the training run in progress, for "acdp: Cancel training". */
let trainingToken: string | number | undefined;
let output: vscode.OutputChannel;
const virtualDocuments = new Map<string, string>();
const virtualChanged = new vscode.EventEmitter<vscode.Uri>();

function settings() {
  const config = vscode.workspace.getConfiguration('acdp');
  return compactSettings({
    modelDir: config.get<string>('modelDir'),
    adapter: config.get<string>('adapter'),
    llm: {
      baseUrl: config.get<string>('llm.baseUrl'),
      model: config.get<string>('llm.model'),
      apiKeyEnv: config.get<string>('llm.apiKeyEnv'),
    },
    sampleLanguage: config.get<string>('sampleLanguage'),
    reviewer: config.get<string>('reviewer'),
  });
}

function createClient(): LanguageClient {
  const command = vscode.workspace.getConfiguration('acdp').get<string>('serverPath') || 'acdp';
  const serverOptions: ServerOptions = {
    run: { command, args: ['lsp'], transport: TransportKind.stdio },
    debug: { command, args: ['lsp'], transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'java' },
      { scheme: 'file', language: 'xml' },
      // A sample being edited: the server checks it on open and save (acdp.editSample).
      { scheme: 'file', pattern: '**/.acdp/review/*.json' },
    ],
    initializationOptions: settings(),
    // Sends workspace/didChangeConfiguration {settings: {acdp: ...}} on every change.
    synchronize: { configurationSection: 'acdp' },
    outputChannel: output,
    middleware: {
      // The "Show chunk for …" code action runs acdp.showChunk on the server; show its answer.
      executeCommand: async (command, args, next) => {
        const result = await next(command, args);
        if (command === COMMANDS.showChunk) {
          await showChunk(result as ChunkInfo | null);
        } else if (command === 'acdp.generateQa' || command === 'acdp.generateDesign') {
          // New samples from a code action: show them in the review view.
          await samplesView.refresh();
        }
        return result;
      },
    },
  };
  return new LanguageClient('acdp', 'acdp', serverOptions, clientOptions);
}

/**
 * The server's work-done progress: in the status bar, and for a job the server lets the user
 * cancel (training) also as a notification with a Cancel button that sends
 * `window/workDoneProgress/cancel`.
 */
function followProgress(c: LanguageClient) {
  c.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
    let notification: { report: (message?: string) => void; end: () => void } | undefined;
    const disposable = c.onProgress(WorkDoneProgress.type, token, (value) => {
      statusBar.text = progressText(value);
      statusBar.tooltip = value.kind === 'end' ? value.message : `${(value as { message?: string }).message ?? ''}`;
      if (value.kind === 'begin' && (value as WorkDoneProgressBegin).cancellable) {
        notification = cancellableNotification(c, token, value as WorkDoneProgressBegin);
      } else if (value.kind === 'report') {
        notification?.report(value.message);
      } else if (value.kind === 'end') {
        notification?.end();
        disposable.dispose();
        if (token === trainingToken) {
          trainingToken = undefined;
        }
      }
    });
    if (isTrainingToken(token)) {
      trainingToken = token;
    }
    return null;
  });
  c.onNotification(METHODS.chunksChanged, (params: { uri: string; added: string[]; changed: string[]; removed: string[] }) => {
    const n = params.added.length + params.changed.length + params.removed.length;
    output.appendLine(`chunks changed in ${params.uri}: ${n}`);
  });
}

function cancellableNotification(c: LanguageClient, token: string | number, begin: WorkDoneProgressBegin) {
  let report: (message?: string) => void = () => undefined;
  let end: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (end = resolve));
  void vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: begin.title, cancellable: true },
    (progress, cancel) => {
      report = (message) => progress.report({ message });
      report(begin.message);
      cancel.onCancellationRequested(() => void cancelProgress(c, token));
      return ended;
    },
  );
  return { report: (message?: string) => report(message), end: () => end() };
}

function cancelProgress(c: LanguageClient, token: string | number) {
  output.appendLine(`cancelling ${token}`);
  return c.sendNotification(WorkDoneProgressCancelNotification.type, { token });
}

/** "acdp: Cancel training": what the notification's Cancel button does. */
async function cancelTraining() {
  if (!client || trainingToken === undefined) {
    vscode.window.showInformationMessage('acdp: no training run is going.');
    return;
  }
  await cancelProgress(client, trainingToken);
  vscode.window.showInformationMessage('acdp: training stops after its current step (checkpointed; Train with resume continues).');
}

async function startClient() {
  client = createClient();
  statusBar.text = '$(sync~spin) acdp';
  statusBar.show();
  await client.start();
  followProgress(client);
}

/** Starts the client when the binary is there; otherwise says what is missing and offers the
 * setting. Used at activation and by "acdp: Restart". */
async function startOrExplain() {
  const command = vscode.workspace.getConfiguration('acdp').get<string>('serverPath') || 'acdp';
  let problem: string | undefined;
  if (!resolveServer(command, process.env.PATH)) {
    problem = missingServerMessage(command);
  } else {
    try {
      await startClient();
      return;
    } catch (error) {
      problem = `acdp: cannot start \`${command} lsp\`: ${String(error)}. See the acdp output, or set acdp.serverPath.`;
    }
  }
  client = undefined;
  statusBar.text = '$(error) acdp';
  statusBar.show();
  output.appendLine(problem);
  const pick = await vscode.window.showErrorMessage(problem, OPEN_SETTINGS);
  if (pick === OPEN_SETTINGS) {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'acdp.serverPath');
  }
}

const OPEN_SETTINGS = 'Open Settings';

async function restartClient() {
  if (client) {
    await client.stop();
  }
  await startOrExplain();
}

/** Sends a request; on an error answer shows one message and returns undefined. */
async function request<T>(feature: string, method: string, params: unknown, what = method): Promise<T | undefined> {
  if (!client || !client.isRunning()) {
    vscode.window.showErrorMessage(`acdp: ${feature}: the language server is not running (see the acdp output channel).`);
    return undefined;
  }
  try {
    return (await client.sendRequest(method, params)) as T;
  } catch (error) {
    const { level, text } = describeError(feature, what, error);
    if (level === 'warning') {
      vscode.window.showWarningMessage(text);
    } else {
      vscode.window.showErrorMessage(text);
    }
    return undefined;
  }
}

function execute<T>(feature: string, command: string, args: unknown[] = []): Promise<T | undefined> {
  const params = args.length > 0 ? { command, arguments: args } : { command };
  return request<T>(feature, ExecuteCommandRequest.type.method, params, `the command ${command}`);
}

async function openVirtual(name: string, text: string, language: string) {
  const uri = vscode.Uri.from({ scheme: SCHEME, path: '/' + name });
  virtualDocuments.set(uri.toString(), text);
  virtualChanged.fire(uri);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.languages.setTextDocumentLanguage(doc, language);
  await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
}

async function showChunk(chunk: ChunkInfo | null | undefined) {
  if (!chunk) {
    vscode.window.showInformationMessage('acdp: no chunk here (outside every method, type header or mapper statement).');
    return;
  }
  const r = chunk.range;
  const header = [
    `# ${chunk.kind} ${chunk.symbol}`,
    `chunk_id: ${chunk.chunk_id}`,
    `lines: ${r.start.line + 1}-${r.end.line + 1}`,
    `content_hash: ${chunk.content_hash}`,
    '',
    '```java',
    chunk.text,
    '```',
  ];
  await openVirtual(`chunk-${chunk.chunk_id}.md`, header.join('\n'), 'markdown');
}

function positionParams(editor: vscode.TextEditor) {
  return {
    uri: editor.document.uri.toString(),
    position: { line: editor.selection.active.line, character: editor.selection.active.character },
  };
}

async function showChunkAtCursor() {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    vscode.window.showInformationMessage('acdp: open a Java file and put the cursor in a method.');
    return;
  }
  const chunk = await request<ChunkInfo | null>('Show chunk', METHODS.chunk, positionParams(editor));
  if (chunk !== undefined) {
    await showChunk(chunk);
  }
}

const ASK_PROMPTS = {
  question: {
    title: 'Ask the repository',
    prompt: 'A question about this code base; the answer cites the code it rests on.',
    placeHolder: 'What happens to coupons when an order is cancelled?',
    progress: 'acdp: asking',
  },
  design: {
    title: 'Propose a design',
    prompt: 'A requirement; the design names the components it changes, adds and reuses, checked against the code.',
    placeHolder: 'Let customers request a partial refund of one item of a paid order',
    progress: 'acdp: designing',
  },
} as const;

/** `acdp/ask` for a question or (`task` design) a requirement, the answer in a webview. */
async function ask(task: AskTask = 'question') {
  const { title, prompt, placeHolder, progress } = ASK_PROMPTS[task];
  const question = await vscode.window.showInputBox({ title, prompt, placeHolder, ignoreFocusOut: true });
  if (!question) {
    return;
  }
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: progress }, () =>
    request<AskResult>(title, METHODS.ask, { question, task }),
  );
  if (!result) {
    return;
  }
  const panel = vscode.window.createWebviewPanel('acdp.answer', `acdp: ${question}`, vscode.ViewColumn.Beside, {
    enableScripts: true,
  });
  const nonce = randomBytes(16).toString('base64');
  panel.webview.html = renderAnswerHtml(question, result, nonce, panel.webview.cspSource);
  panel.webview.onDidReceiveMessage(async (message: { open?: { uri: string; range: AskResult['citations'][0]['range'] } }) => {
    if (!message.open) {
      return;
    }
    const { uri, range } = message.open;
    const selection = new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
    await vscode.window.showTextDocument(vscode.Uri.parse(uri), { selection, viewColumn: vscode.ViewColumn.One });
  });
}

/** "acdp: Show samples": the review view, filled again. */
async function showSamples() {
  await vscode.commands.executeCommand('acdp.samples.focus');
  await samplesView.refresh();
}

async function loadSamples(): Promise<ListedSample[] | undefined> {
  if (!client || !client.isRunning()) {
    return undefined;
  }
  return request<ListedSample[]>('Show samples', METHODS.samples, { filter: {} });
}

async function filterSamples() {
  const choices = [
    { label: 'All samples', filter: {} },
    { label: 'Pending review', filter: { state: 'pending' as const } },
    { label: 'Accepted', filter: { state: 'accepted' as const } },
    { label: 'Edited', filter: { state: 'edited' as const } },
    { label: 'Rejected', filter: { state: 'rejected' as const } },
    { label: 'Stale (the code changed since)', filter: { staleOnly: true } },
  ];
  const choice = await vscode.window.showQuickPick(choices, { title: 'acdp: show which samples' });
  if (choice) {
    samplesView.filter = choice.filter;
    await samplesView.refresh();
  }
}

/** Shows one sample in the sample panel (one panel, reused). */
async function openSample(argument?: unknown) {
  const id = sampleIdOf(argument, undefined);
  const sample = id ? samplesView.byId(id) : undefined;
  if (!sample) {
    return;
  }
  if (!samplePanel) {
    samplePanel = vscode.window.createWebviewPanel('acdp.sample', 'acdp sample', vscode.ViewColumn.Beside, {
      enableScripts: true,
    });
    samplePanel.onDidDispose(() => (samplePanel = undefined));
    samplePanel.webview.onDidReceiveMessage(onSampleMessage);
  }
  samplePanel.title = `acdp: ${sample.sample_id}`;
  samplePanel.webview.html = renderSampleHtml(sample, randomBytes(16).toString('base64'), samplePanel.webview.cspSource);
  samplePanel.reveal(undefined, true);
}

async function onSampleMessage(message: SampleViewMessage) {
  if ('open' in message) {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (root) {
      const line = Math.max(message.open.line - 1, 0);
      await vscode.window.showTextDocument(vscode.Uri.joinPath(root, message.open.path), {
        selection: new vscode.Range(line, 0, line, 0),
        viewColumn: vscode.ViewColumn.One,
      });
    }
    return;
  }
  const act = { accept: acceptSample, reject: rejectSample, edit: editSample, regenerate: regenerateSample }[message.action];
  await act(message.sample_id);
}

/** The sample a review command acts on: the tree node or id it was given, else the shown one. */
function targetSample(argument: unknown): string | undefined {
  const shown = samplePanel?.title.replace(/^acdp: /, '');
  const id = sampleIdOf(argument, shown);
  if (!id) {
    vscode.window.showInformationMessage('acdp: pick a sample in the acdp Samples view first.');
  }
  return id;
}

async function afterReview(id: string) {
  await samplesView.refresh();
  if (samplePanel?.title === `acdp: ${id}`) {
    await openSample(id);
  }
}

async function review(argument: unknown, verdict: 'accepted' | 'rejected') {
  const id = targetSample(argument);
  if (!id) {
    return;
  }
  const feature = verdict === 'accepted' ? 'Accept sample' : 'Reject sample';
  const result = await execute<ListedSample>(feature, COMMANDS.reviewSample, [{ sample_id: id, verdict }]);
  if (result) {
    vscode.window.showInformationMessage(`acdp: ${id} ${verdict}.`);
    await afterReview(id);
  }
}

const acceptSample = (argument?: unknown) => review(argument, 'accepted');
const rejectSample = (argument?: unknown) => review(argument, 'rejected');

/** Opens the sample's edit file; the server checks it on save and records it as edited. */
async function editSample(argument?: unknown) {
  const id = targetSample(argument);
  if (!id) {
    return;
  }
  const file = await execute<EditFile>('Edit sample', COMMANDS.editSample, [{ sample_id: id }]);
  if (file) {
    await vscode.window.showTextDocument(vscode.Uri.parse(file.uri), { viewColumn: vscode.ViewColumn.One });
    vscode.window.showInformationMessage(
      'acdp: correct the answer and the trace, then save: problems show as errors in the file; a clean save keeps the sample as edited.',
    );
  }
}

async function regenerateSample(argument?: unknown) {
  const id = targetSample(argument);
  if (!id) {
    return;
  }
  const result = await execute<ListedSample>('Regenerate sample', COMMANDS.regenerateSample, [{ sample_id: id }]);
  if (result) {
    await afterReview(id);
  }
}

async function exportDataset() {
  const out = await vscode.window.showInputBox({
    title: 'acdp: export dataset',
    prompt: 'Output folder (relative to the first workspace folder); empty for .acdp/dataset',
    ignoreFocusOut: true,
  });
  if (out === undefined) {
    return;
  }
  const result = await execute<unknown>('Export dataset', COMMANDS.exportDataset, out ? [{ out }] : []);
  if (result !== undefined) {
    vscode.window.showInformationMessage(`acdp: dataset exported: ${JSON.stringify(result)}`);
  }
}

/** `acdp.eval` on the workspace's held-out questions (or a file), the report as markdown. */
async function evaluate() {
  const cases = await vscode.window.showInputBox({
    title: 'acdp: evaluate retrieval',
    prompt: 'Question file (relative to the first workspace folder); empty for .acdp/dataset/eval.jsonl',
    ignoreFocusOut: true,
  });
  if (cases === undefined) {
    return;
  }
  const result = await execute<EvalResult>('Evaluate', COMMANDS.eval, cases ? [{ cases }] : []);
  if (result) {
    await openVirtual('eval.md', result.markdown, 'markdown');
  }
}

async function train() {
  const report = await execute<TrainReport>('Train', COMMANDS.train);
  if (report) {
    showLossPlot(report);
  }
}

/** The run's loss curve (`loss.svg`, written beside the adapter) in a panel. */
function showLossPlot(report: TrainReport) {
  const folder = vscode.Uri.file(report.adapter_dir);
  const panel = vscode.window.createWebviewPanel('acdp.loss', 'acdp: training loss', vscode.ViewColumn.Beside, {
    localResourceRoots: [folder],
  });
  const plot = panel.webview.asWebviewUri(vscode.Uri.joinPath(folder, 'loss.svg'));
  const loss = (l: number | null) => (l === null ? '-' : l.toFixed(4));
  const summary = `${report.cancelled ? 'Cancelled after' : 'Trained'} ${report.steps} steps, loss ${loss(report.first_loss)} → ${loss(report.last_loss)}; adapter in ${report.adapter_dir}`;
  panel.webview.html = `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${panel.webview.cspSource};"></head>
<body><p>${escapeHtml(summary)}</p><img src="${plot}" alt="loss curve" style="max-width: 100%; background: #fff"></body></html>`;
}

async function reindex() {
  const summary = await execute<ReindexSummary>('Reindex', COMMANDS.reindex);
  if (summary) {
    vscode.window.showInformationMessage(
      `acdp: reindexed ${summary.files} file(s), ${summary.chunks} chunk(s) in ${summary.folders} folder(s)` +
        (summary.errors.length ? `; ${summary.errors.length} error(s): ${summary.errors.join('; ')}` : ''),
    );
  }
}

export async function activate(context: vscode.ExtensionContext) {
  output = vscode.window.createOutputChannel('acdp');
  statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  statusBar.name = 'acdp index';
  statusBar.command = 'acdp.client.reindex';
  samplesView = new SamplesView(loadSamples, () => vscode.workspace.workspaceFolders?.[0]?.uri);
  samplesView.view = vscode.window.createTreeView('acdp.samples', { treeDataProvider: samplesView, showCollapseAll: true });
  context.subscriptions.push(output, statusBar, virtualChanged, samplesView.view);
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, {
      onDidChange: virtualChanged.event,
      provideTextDocumentContent: (uri) => virtualDocuments.get(uri.toString()) ?? '',
    }),
    vscode.commands.registerCommand('acdp.client.ask', () => ask('question')),
    vscode.commands.registerCommand('acdp.client.proposeDesign', () => ask('design')),
    vscode.commands.registerCommand('acdp.client.evaluate', evaluate),
    vscode.commands.registerCommand('acdp.client.exportDataset', exportDataset),
    vscode.commands.registerCommand('acdp.client.train', train),
    vscode.commands.registerCommand('acdp.client.reindex', reindex),
    vscode.commands.registerCommand('acdp.client.showSamples', showSamples),
    vscode.commands.registerCommand('acdp.client.refreshSamples', () => samplesView.refresh()),
    vscode.commands.registerCommand('acdp.client.filterSamples', filterSamples),
    vscode.commands.registerCommand('acdp.client.openSample', openSample),
    vscode.commands.registerCommand('acdp.client.acceptSample', acceptSample),
    vscode.commands.registerCommand('acdp.client.rejectSample', rejectSample),
    vscode.commands.registerCommand('acdp.client.editSample', editSample),
    vscode.commands.registerCommand('acdp.client.regenerateSample', regenerateSample),
    vscode.commands.registerCommand('acdp.client.cancelTraining', cancelTraining),
    // A saved edit is recorded by the server; show the new state.
    vscode.workspace.onDidSaveTextDocument((doc) => {
      if (doc.uri.path.includes('/.acdp/review/')) {
        setTimeout(() => void samplesView.refresh(), 500);
      }
    }),
    vscode.commands.registerCommand('acdp.client.showChunk', showChunkAtCursor),
    vscode.commands.registerCommand('acdp.client.restart', restartClient),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('acdp.serverPath')) {
        const pick = await vscode.window.showInformationMessage('acdp: the server path changed.', 'Restart acdp');
        if (pick) {
          await restartClient();
        }
      }
    }),
  );
  await startOrExplain();
}

export async function deactivate() {
  if (client) {
    await client.stop();
  }
}
