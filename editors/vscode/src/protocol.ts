// acdp's own messages as the clients see them (docs/lsp.md), and how an error answer is
// read. Pure: no `vscode` import, so unit tests and the screenshot script can load it.

/** LSP position/range: 0-based lines, UTF-16 characters. */
export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}

/** `acdp/chunk` result and `acdp.showChunk` result. */
export interface ChunkInfo {
  chunk_id: string;
  kind: string;
  symbol: string;
  uri: string;
  range: Range;
  content_hash: string;
  text: string;
  version: number | null;
}

/** `acdp/ask` {question, task?} -> AskResult; `design` asks for a design of a requirement. */
export type AskTask = 'question' | 'design';

export interface Citation {
  chunk_id: string;
  uri: string;
  range: Range;
}
export interface AskResult {
  answer: string;
  citations: Citation[];
  validated: boolean;
}

/** `acdp.eval` result: `acdp eval`'s summary and markdown report. */
export interface EvalResult {
  cases: string;
  summary: { questions: number; k: number; hit_at_k: number; recall_at_k: number; mrr: number };
  markdown: string;
}

/** `acdp.reindex` result. */
export interface ReindexSummary {
  folders: number;
  files: number;
  chunks: number;
  skipped: number;
  errors: string[];
}

/** `acdp/samples` params: every filter field optional, combined with "and". */
export interface SampleFilter {
  chunk_id?: string;
  symbol?: string;
  task?: string;
  language?: string;
  review?: 'pending' | 'accepted' | 'edited' | 'rejected';
  stale?: boolean;
}

/** `acdp.editSample` result: the edit file the server wrote. */
export interface EditFile {
  uri: string;
  path: string;
}

/** `acdp.train` result (the fields the client reads). */
export interface TrainReport {
  steps: number;
  cancelled: boolean;
  adapter_dir: string;
  first_loss: number | null;
  last_loss: number | null;
}

/** Whether a work-done token is a training run's (`acdp/train/N`). */
export function isTrainingToken(token: string | number): boolean {
  return String(token).startsWith('acdp/train/');
}

export const METHODS = {
  chunk: 'acdp/chunk',
  ask: 'acdp/ask',
  samples: 'acdp/samples',
  chunksChanged: 'acdp/chunksChanged',
} as const;

export const COMMANDS = {
  reindex: 'acdp.reindex',
  showChunk: 'acdp.showChunk',
  exportDataset: 'acdp.exportDataset',
  train: 'acdp.train',
  eval: 'acdp.eval',
  reviewSample: 'acdp.reviewSample',
  editSample: 'acdp.editSample',
  regenerateSample: 'acdp.regenerateSample',
} as const;

const METHOD_NOT_FOUND = -32601;
const INVALID_PARAMS = -32602;

/**
 * Whether an error answer means the server does not have this request or command yet
 * ("method not found", or invalid params naming an "unknown command").
 */
export function isNotAvailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code === METHOD_NOT_FOUND) {
    return true;
  }
  return code === INVALID_PARAMS && typeof message === 'string' && message.includes('unknown command');
}

/** The message shown for an error answer to `feature` (a user-facing name, "Ask"). */
export function describeError(feature: string, what: string, error: unknown): { level: 'warning' | 'error'; text: string } {
  const message = typeof error === 'object' && error !== null && 'message' in error ? String((error as { message: unknown }).message) : String(error);
  if (isNotAvailable(error)) {
    return { level: 'warning', text: `acdp: ${feature} is not available yet: this acdp server does not implement ${what} (${message}).` };
  }
  return { level: 'error', text: `acdp: ${feature} failed: ${message}` };
}

/** The acdp settings as sent in `initializationOptions` (same names as `settings.acdp`). */
export interface AcdpSettings {
  modelDir?: string;
  adapter?: string;
  llm?: { baseUrl?: string; model?: string; apiKeyEnv?: string };
  sampleLanguage?: string;
  reviewer?: string;
}

/** Drops empty strings and empty objects, so the server sees only what the user set. */
export function compactSettings(raw: { [key: string]: unknown }): AcdpSettings {
  const out: { [key: string]: unknown } = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === '' || value === null || value === undefined) {
      continue;
    }
    if (typeof value === 'object' && !Array.isArray(value)) {
      const inner = compactSettings(value as { [key: string]: unknown });
      if (Object.keys(inner).length > 0) {
        out[key] = inner;
      }
      continue;
    }
    out[key] = value;
  }
  return out as AcdpSettings;
}

/** Status bar text for a `$/progress` value. */
export function progressText(value: { kind: string; message?: string; percentage?: number; title?: string }): string {
  if (value.kind === 'end') {
    return `$(check) acdp${value.message ? ': ' + value.message : ''}`;
  }
  const percent = value.percentage === undefined ? '' : ` ${value.percentage}%`;
  return `$(sync~spin) acdp${percent}`;
}
