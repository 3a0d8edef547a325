// The "acdp Samples" tree in the explorer: the workspace's samples (`acdp/samples`) by file,
// chunk and sample, each with its review state; the grouping and labels are samples.ts.
import * as vscode from 'vscode';
import { ChunkGroup, FileGroup, ListedSample, ViewFilter, countStates, groupSamples, promptOf, reviewState, sampleDescription } from './samples';

type Node =
  | { kind: 'file'; group: FileGroup }
  | { kind: 'chunk'; path: string; group: ChunkGroup }
  | { kind: 'sample'; sample: ListedSample };

export class SamplesView implements vscode.TreeDataProvider<Node> {
  private samples: ListedSample[] = [];
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  filter: ViewFilter = {};
  view?: vscode.TreeView<Node>;

  constructor(
    private readonly load: () => Promise<ListedSample[] | undefined>,
    private readonly root: () => vscode.Uri | undefined,
  ) {}

  /** Asks the server again and redraws; returns the samples. */
  async refresh(): Promise<ListedSample[]> {
    const samples = await this.load();
    if (samples) {
      this.samples = samples;
    }
    const counts = countStates(this.samples);
    if (this.view) {
      this.view.description =
        `${counts.pending} pending, ${counts.accepted} accepted, ${counts.edited} edited, ${counts.rejected} rejected` +
        (this.filter.state || this.filter.staleOnly
          ? ` · showing ${this.filter.state ?? 'all'}${this.filter.staleOnly ? ', stale only' : ''}`
          : '');
    }
    this.changed.fire(undefined);
    return this.samples;
  }

  byId(id: string): ListedSample | undefined {
    return this.samples.find((s) => s.sample_id === id);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const root = this.root();
    switch (node.kind) {
      case 'file': {
        const item = new vscode.TreeItem(node.group.path, vscode.TreeItemCollapsibleState.Expanded);
        item.resourceUri = root ? vscode.Uri.joinPath(root, node.group.path) : undefined;
        item.contextValue = 'file';
        return item;
      }
      case 'chunk': {
        const symbol = node.group.symbol.replace(/^.*?([A-Za-z0-9_$]+\.[A-Za-z0-9_$]+\(.*)$/, '$1');
        const item = new vscode.TreeItem(symbol, vscode.TreeItemCollapsibleState.Expanded);
        item.description = `line ${node.group.start_line} · ${node.group.chunk_id}`;
        item.tooltip = node.group.symbol;
        item.contextValue = 'chunk';
        if (root) {
          const line = Math.max(node.group.start_line - 1, 0);
          item.command = {
            command: 'vscode.open',
            title: 'Open the code',
            arguments: [vscode.Uri.joinPath(root, node.path), { selection: new vscode.Range(line, 0, line, 0) }],
          };
        }
        return item;
      }
      case 'sample': {
        const sample = node.sample;
        const item = new vscode.TreeItem(promptOf(sample), vscode.TreeItemCollapsibleState.None);
        item.id = sample.sample_id;
        item.description = sampleDescription(sample);
        item.tooltip = `${sample.sample_id} (${sample.task}, ${sample.language})`;
        item.contextValue = `sample.${reviewState(sample)}`;
        item.iconPath = new vscode.ThemeIcon(
          { pending: 'circle-outline', accepted: 'pass', edited: 'edit', rejected: 'circle-slash' }[reviewState(sample)],
        );
        item.command = { command: 'acdp.client.openSample', title: 'Show the sample', arguments: [sample.sample_id] };
        return item;
      }
    }
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      return groupSamples(this.samples, this.filter).map((group) => ({ kind: 'file', group }));
    }
    switch (node.kind) {
      case 'file':
        return node.group.chunks.map((group) => ({ kind: 'chunk', path: node.group.path, group }));
      case 'chunk':
        return node.group.samples.map((sample) => ({ kind: 'sample', sample }));
      case 'sample':
        return [];
    }
  }
}

/** The sample id a command was given: a tree node, an id, or nothing (the shown sample). */
export function sampleIdOf(argument: unknown, fallback: string | undefined): string | undefined {
  if (typeof argument === 'string') {
    return argument;
  }
  const node = argument as Node | undefined;
  if (node && typeof node === 'object' && node.kind === 'sample') {
    return node.sample.sample_id;
  }
  return fallback;
}
