// The HTML of the "Ask the repository" results view: the answer, then its citations as
// links that post {uri, range} back to the extension, which opens the file at the range.
// Pure (no `vscode` import) so the screenshot script renders exactly this HTML.
import { AskResult } from './protocol';

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function fileName(uri: string): string {
  try {
    return decodeURIComponent(new URL(uri).pathname);
  } catch {
    return uri;
  }
}

/** Shortens an absolute path to what follows `src/` (or the last three parts). */
function shortPath(path: string): string {
  const src = path.indexOf('/src/');
  if (src >= 0) {
    return path.slice(src + 1);
  }
  return path.split('/').slice(-3).join('/');
}

/**
 * The webview script (after `const vscode = acquireVsCodeApi()`) that posts `{open: target}`
 * when a link matching `selector` is clicked, `target` being its `data-target` JSON.
 */
export function openLinksScript(selector: string): string {
  return `for (const link of document.querySelectorAll('${selector}')) {
    link.addEventListener('click', (event) => {
      event.preventDefault();
      if (vscode) { vscode.postMessage({ open: JSON.parse(link.dataset.target) }); }
    });
  }`;
}

/**
 * `nonce` guards the inline script (Content-Security-Policy); `cspSource` is the
 * webview's own source (`webview.cspSource`).
 */
export function renderAnswerHtml(question: string, result: AskResult, nonce: string, cspSource: string): string {
  const citations = result.citations
    .map((c, i) => {
      const path = shortPath(fileName(c.uri));
      const lines = `${c.range.start.line + 1}-${c.range.end.line + 1}`;
      const data = escapeHtml(JSON.stringify({ uri: c.uri, range: c.range }));
      return `<li><a href="#" class="citation" data-target="${data}">[${i + 1}] <code>${escapeHtml(c.chunk_id)}</code> ${escapeHtml(path)}:${lines}</a></li>`;
    })
    .join('\n');
  const paragraphs = result.answer
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeHtml(p).replace(/\[(\d+)\]/g, '<sup>[$1]</sup>')}</p>`)
    .join('\n');
  const badge = result.validated
    ? '<span class="badge ok">citations checked against the current code</span>'
    : '<span class="badge stale">citations not validated</span>';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'unsafe-inline'; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>acdp: ${escapeHtml(question)}</title>
<style>
  body { font-family: var(--vscode-font-family, system-ui, sans-serif); font-size: var(--vscode-font-size, 14px);
         color: var(--vscode-foreground, #ccc); background: var(--vscode-editor-background, #1e1e1e); padding: 0 20px; }
  h2 { font-weight: 600; border-bottom: 1px solid var(--vscode-panel-border, #444); padding-bottom: 6px; }
  .badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; }
  .ok { background: #1f6f3f; color: #fff; } .stale { background: #8a5a00; color: #fff; }
  ol, ul { padding-left: 18px; } li { margin: 4px 0; list-style: none; }
  a { color: var(--vscode-textLink-foreground, #3794ff); text-decoration: none; } a:hover { text-decoration: underline; }
  code { font-family: var(--vscode-editor-font-family, monospace); }
</style>
</head>
<body>
<h2>${escapeHtml(question)}</h2>
${paragraphs}
<p>${badge}</p>
<h3>Citations</h3>
<ul>
${citations || '<li>none</li>'}
</ul>
<script nonce="${nonce}">
  const vscode = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : undefined;
  ${openLinksScript('a.citation')}
</script>
</body>
</html>`;
}
