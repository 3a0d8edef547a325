// The acdp VS Code extension: starts `acdp lsp` through vscode-languageclient, shows index
// progress in the status bar, and adds the palette commands (Ask, Export dataset, Train,
// Reindex, Show samples, Show chunk). Hover and code actions come from the language client
// as they are. Requests the server does not have yet end in one warning, not an error.
import { randomBytes } from 'crypto';
import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';
import { renderAnswerHtml } from './answerView';
import { missingServerMessage, resolveServer } from './serverPath';
import {
  AskResult,
  AskTask,
  EvalResult,
  ChunkInfo,
  COMMANDS,
  compactSettings,
  describeError,
  METHODS,
  progressText,
  ReindexSummary,
  SampleFilter,
} from './protocol';

const SCHEME = 'acdp';

let client: LanguageClient | undefined;
let statusBar: vscode.StatusBarItem;
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
        }
        return result;
      },
    },
  };
  return new LanguageClient('acdp', 'acdp', serverOptions, clientOptions);
}

/** Status bar progress: the server's work-done tokens are followed here instead of in a popup. */
function followProgress(c: LanguageClient) {
  c.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
    const disposable = c.onProgress(WorkDoneProgress.type, token, (value) => {
      statusBar.text = progressText(value);
      statusBar.tooltip = value.kind === 'end' ? value.message : `${(value as { message?: string }).message ?? ''}`;
      if (value.kind === 'end') {
        disposable.dispose();
      }
    });
    return null;
  });
  c.onNotification(METHODS.chunksChanged, (params: { uri: string; added: string[]; changed: string[]; removed: string[] }) => {
    const n = params.added.length + params.changed.length + params.removed.length;
    output.appendLine(`chunks changed in ${params.uri}: ${n}`);
  });
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

async function showSamples() {
  let symbol: string | undefined;
  const editor = vscode.window.activeTextEditor;
  if (editor && editor.document.languageId === 'java') {
    const chunk = await request<ChunkInfo | null>('Show samples', METHODS.chunk, positionParams(editor));
    symbol = chunk?.symbol;
  }
  const choice = await vscode.window.showQuickPick(
    [{ label: 'All samples', filter: {} as SampleFilter }].concat(
      symbol ? [{ label: `Samples citing ${symbol}`, filter: { symbol } }] : [],
    ),
    { title: 'acdp: show samples' },
  );
  if (!choice) {
    return;
  }
  const result = await request<unknown>('Show samples', METHODS.samples, { filter: choice.filter });
  if (result === undefined) {
    return;
  }
  const samples = Array.isArray(result) ? result : ((result as { samples?: unknown[] }).samples ?? []);
  await openVirtual('samples.json', JSON.stringify(samples, null, 2), 'json');
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
  const result = await execute<unknown>('Train', COMMANDS.train);
  if (result !== undefined) {
    vscode.window.showInformationMessage(`acdp: training: ${JSON.stringify(result)}`);
  }
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
  context.subscriptions.push(output, statusBar, virtualChanged);
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
