// The review view's logic: the samples `acdp/samples` lists, grouped by file and chunk for
// the tree, their labels, and the HTML of one sample with its review buttons. Pure (no
// `vscode` import) so node --test and the screenshot script use exactly this code.
import { escapeHtml, openLinksScript } from './answerView';

export type ReviewState = 'pending' | 'accepted' | 'edited' | 'rejected';

export interface Evidence {
  chunk_id: string;
  path: string;
  symbol: string;
  start_line: number;
  end_line: number;
}

export interface TraceStep {
  claim: string;
  evidence: string[];
}

export interface ComponentChange {
  layer: string;
  component: string;
  action: 'modify' | 'add';
  description: string;
}

/** One entry of `acdp/samples` (docs/dataset-schema.md, plus `stale`). */
export interface ListedSample {
  sample_id: string;
  task: 'qa' | 'design';
  language: string;
  question?: string;
  answer?: string;
  requirement?: string;
  design?: { summary: string; components: ComponentChange[]; flow: string[]; consistency: string[] };
  assumptions?: string[];
  risks?: string[];
  evidence: Evidence[];
  trace: TraceStep[];
  review?: { verdict: Exclude<ReviewState, 'pending'>; at: string; reviewer?: string };
  stale: boolean;
  stale_chunks?: string[];
}

export function reviewState(sample: ListedSample): ReviewState {
  return sample.review?.verdict ?? 'pending';
}

/** The question or requirement. */
export function promptOf(sample: ListedSample): string {
  return (sample.task === 'design' ? sample.requirement : sample.question) ?? '';
}

export interface ChunkGroup {
  chunk_id: string;
  symbol: string;
  start_line: number;
  samples: ListedSample[];
}

export interface FileGroup {
  path: string;
  chunks: ChunkGroup[];
}

/** What the view shows: every state, or one; stale ones only when asked. */
export interface ViewFilter {
  state?: ReviewState;
  staleOnly?: boolean;
}

export function admits(filter: ViewFilter, sample: ListedSample): boolean {
  return (!filter.state || reviewState(sample) === filter.state) && (!filter.staleOnly || sample.stale);
}

/**
 * Files (by path) holding chunks (by first line) holding samples (by id), each sample under
 * its first evidence chunk: the code the question is about.
 */
export function groupSamples(samples: ListedSample[], filter: ViewFilter = {}): FileGroup[] {
  const files = new Map<string, Map<string, ChunkGroup>>();
  for (const sample of samples.filter((s) => admits(filter, s))) {
    const first = sample.evidence[0];
    if (!first) {
      continue;
    }
    const chunks = files.get(first.path) ?? new Map<string, ChunkGroup>();
    files.set(first.path, chunks);
    const group = chunks.get(first.chunk_id) ?? {
      chunk_id: first.chunk_id,
      symbol: first.symbol,
      start_line: first.start_line,
      samples: [],
    };
    chunks.set(first.chunk_id, group);
    group.samples.push(sample);
  }
  return [...files.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([path, chunks]) => ({
      path,
      chunks: [...chunks.values()]
        .sort((a, b) => a.start_line - b.start_line || a.chunk_id.localeCompare(b.chunk_id))
        .map((c) => ({ ...c, samples: c.samples.sort((a, b) => a.sample_id.localeCompare(b.sample_id)) })),
    }));
}

/** The tree item's description: the review state, and "stale" when the code changed. */
export function sampleDescription(sample: ListedSample): string {
  return reviewState(sample) + (sample.stale ? ' · stale' : '');
}

/** Counts by review state, for the view's title. */
export function countStates(samples: ListedSample[]): Record<ReviewState, number> {
  const counts: Record<ReviewState, number> = { pending: 0, accepted: 0, edited: 0, rejected: 0 };
  for (const sample of samples) {
    counts[reviewState(sample)] += 1;
  }
  return counts;
}

/** Messages the sample view posts back: a review action, or an evidence link to open. */
export type SampleViewMessage =
  | { action: 'accept' | 'reject' | 'edit' | 'regenerate'; sample_id: string }
  | { open: { path: string; line: number } };

function list(items: string[] | undefined): string {
  return items && items.length ? `<ul>${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>` : '';
}

function body(sample: ListedSample): string {
  if (sample.task === 'qa') {
    return `<h3>Answer</h3>${(sample.answer ?? '')
      .split(/\n{2,}/)
      .map((p) => `<p>${escapeHtml(p)}</p>`)
      .join('')}`;
  }
  const design = sample.design;
  const components = (design?.components ?? []).map(
    (c) => `[${c.layer}] ${c.action === 'add' ? 'add' : 'change'} ${c.component}: ${c.description}`,
  );
  return (
    `<h3>Design</h3><p>${escapeHtml(design?.summary ?? '')}</p>` +
    (components.length ? `<h4>Components</h4>${list(components)}` : '') +
    (design?.flow?.length ? `<h4>Flow</h4>${list(design.flow)}` : '') +
    (design?.consistency?.length ? `<h4>Consistency</h4>${list(design.consistency)}` : '') +
    (sample.assumptions?.length ? `<h4>Assumptions</h4>${list(sample.assumptions)}` : '') +
    (sample.risks?.length ? `<h4>Risks</h4>${list(sample.risks)}` : '')
  );
}

/** The HTML of one sample: prompt, state, answer or design, trace, evidence, buttons. */
export function renderSampleHtml(sample: ListedSample, nonce: string, cspSource: string): string {
  const state = reviewState(sample);
  const reviewed = sample.review
    ? ` on ${escapeHtml(sample.review.at)}${sample.review.reviewer ? ' by ' + escapeHtml(sample.review.reviewer) : ''}`
    : '';
  const stale = sample.stale
    ? `<p class="badge stale">stale: the code of ${escapeHtml((sample.stale_chunks ?? []).join(', '))} changed since; regenerate or edit before accepting</p>`
    : '';
  const trace = sample.trace
    .map((step) => `<li>${escapeHtml(step.claim)} <code>[${step.evidence.map(escapeHtml).join(', ')}]</code></li>`)
    .join('');
  const evidence = sample.evidence
    .map((e) => {
      const target = escapeHtml(JSON.stringify({ path: e.path, line: e.start_line }));
      return `<li><a href="#" class="evidence" data-target="${target}"><code>${escapeHtml(e.chunk_id)}</code> ${escapeHtml(e.path)}:${e.start_line}-${e.end_line}</a> ${escapeHtml(e.symbol)}</li>`;
    })
    .join('');
  const id = escapeHtml(sample.sample_id);
  const button = (action: string, label: string) => `<button data-action="${action}" data-id="${id}">${label}</button>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'unsafe-inline'; script-src 'nonce-${nonce}';">
<title>acdp: ${id}</title>
<style>
  body { font-family: var(--vscode-font-family, system-ui, sans-serif); font-size: var(--vscode-font-size, 14px);
         color: var(--vscode-foreground, #ccc); background: var(--vscode-editor-background, #1e1e1e); padding: 0 20px; }
  h2 { font-weight: 600; border-bottom: 1px solid var(--vscode-panel-border, #444); padding-bottom: 6px; }
  .badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; display: inline-block; }
  .pending { background: #555; color: #fff; } .accepted { background: #1f6f3f; color: #fff; }
  .edited { background: #1f4f8f; color: #fff; } .rejected { background: #8f1f1f; color: #fff; }
  .stale { background: #8a5a00; color: #fff; }
  li { margin: 4px 0; } a { color: var(--vscode-textLink-foreground, #3794ff); text-decoration: none; }
  code { font-family: var(--vscode-editor-font-family, monospace); }
  button { margin-right: 8px; padding: 4px 12px; color: var(--vscode-button-foreground, #fff);
           background: var(--vscode-button-background, #0e639c); border: none; cursor: pointer; }
</style>
</head>
<body>
<h2>${escapeHtml(promptOf(sample))}</h2>
<p><span class="badge ${state}">${state}</span>${reviewed} <code>${id}</code> (${escapeHtml(sample.task)}, ${escapeHtml(sample.language)})</p>
${stale}
<p>${button('accept', 'Accept')}${button('edit', 'Edit')}${button('reject', 'Reject')}${button('regenerate', 'Regenerate')}</p>
${body(sample)}
<h3>Trace</h3>
<ol>${trace}</ol>
<h3>Evidence</h3>
<ul>${evidence}</ul>
<script nonce="${nonce}">
  const vscode = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : undefined;
  for (const button of document.querySelectorAll('button[data-action]')) {
    button.addEventListener('click', () => vscode && vscode.postMessage({ action: button.dataset.action, sample_id: button.dataset.id }));
  }
  ${openLinksScript('a.evidence')}
</script>
</body>
</html>`;
}
