// Unit tests of the extension's pure parts (node --test; no VS Code needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, renderAnswerHtml } from '../answerView';
import { compactSettings, describeError, isNotAvailable, progressText } from '../protocol';

test('method not found and unknown command read as "not available yet"', () => {
  assert.equal(isNotAvailable({ code: -32601, message: 'Method not found' }), true);
  assert.equal(isNotAvailable({ code: -32602, message: 'unknown command `acdp.train`; acdp knows acdp.reindex' }), true);
  assert.equal(isNotAvailable({ code: -32602, message: 'acdp.showChunk takes one argument' }), false);
  assert.equal(isNotAvailable({ code: -32603, message: 'internal error' }), false);
  assert.equal(isNotAvailable(undefined), false);
  const told = describeError('Ask', 'acdp/ask', { code: -32601, message: 'Method not found' });
  assert.equal(told.level, 'warning');
  assert.match(told.text, /Ask is not available yet/);
  assert.equal(describeError('Reindex', 'the command acdp.reindex', new Error('boom')).level, 'error');
});

test('settings drop what the user left empty', () => {
  assert.deepEqual(
    compactSettings({ modelDir: '', adapter: '/a', llm: { baseUrl: '', model: '', apiKeyEnv: 'KEY' }, sampleLanguage: 'zh' }),
    { adapter: '/a', llm: { apiKeyEnv: 'KEY' }, sampleLanguage: 'zh' },
  );
  assert.deepEqual(compactSettings({ llm: { baseUrl: '' } }), {});
});

test('progress text', () => {
  assert.equal(progressText({ kind: 'begin', title: 'acdp: indexing', percentage: 0 }), '$(sync~spin) acdp 0%');
  assert.equal(progressText({ kind: 'end', message: 'indexed 57 files' }), '$(check) acdp: indexed 57 files');
});

test('answer view escapes text and links every citation', () => {
  assert.equal(escapeHtml('<a href="x">&</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
  const html = renderAnswerHtml(
    'Why <b>?',
    {
      answer: 'Because [1].',
      validated: true,
      citations: [
        {
          chunk_id: 'c0123456789ab',
          uri: 'file:///w/shop/src/main/java/A.java',
          range: { start: { line: 9, character: 4 }, end: { line: 19, character: 5 } },
        },
      ],
    },
    'NONCE',
    'vscode-resource:',
  );
  assert.match(html, /Why &lt;b&gt;\?/);
  assert.match(html, /<code>c0123456789ab<\/code> src\/main\/java\/A\.java:10-20/);
  assert.match(html, /script-src 'nonce-NONCE'/);
  assert.match(html, /<sup>\[1\]<\/sup>/);
});
