// Unit tests of the review view's logic (samples.ts): grouping, filters, labels, the HTML.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTrainingToken } from '../protocol';
import { admits, countStates, groupSamples, ListedSample, renderSampleHtml, sampleDescription } from '../samples';

function sample(id: string, path: string, chunk: string, line: number, extra: Partial<ListedSample> = {}): ListedSample {
  return {
    sample_id: id,
    task: 'qa',
    language: 'en',
    question: `Question ${id}?`,
    answer: `Answer of ${id}.`,
    evidence: [{ chunk_id: chunk, path, symbol: `a.B.m${chunk}()`, start_line: line, end_line: line + 5 }],
    trace: [{ claim: `claim of ${id}`, evidence: [chunk] }],
    stale: false,
    ...extra,
  };
}

const accepted = { verdict: 'accepted' as const, at: '2026-12-06T16:00:00Z', reviewer: 'ana' };
const rejected = { verdict: 'rejected' as const, at: '2026-12-06T16:01:00Z' };

const SAMPLES = [
  sample('qa-3', 'src/B.java', 'c2', 40),
  sample('qa-1', 'src/B.java', 'c1', 10, { review: accepted }),
  sample('qa-2', 'src/A.java', 'c9', 5, { stale: true, stale_chunks: ['c9'] }),
  sample('qa-0', 'src/B.java', 'c1', 10, { review: rejected }),
];

test('samples group by file (by path), chunk (by line) and id', () => {
  const groups = groupSamples(SAMPLES);
  assert.deepEqual(
    groups.map((f) => [f.path, f.chunks.map((c) => [c.chunk_id, c.samples.map((s) => s.sample_id)])]),
    [
      ['src/A.java', [['c9', ['qa-2']]]],
      ['src/B.java', [['c1', ['qa-0', 'qa-1']], ['c2', ['qa-3']]]],
    ],
  );
});

test('filters by review state and staleness', () => {
  assert.deepEqual(
    groupSamples(SAMPLES, { state: 'pending' }).flatMap((f) => f.chunks.flatMap((c) => c.samples.map((s) => s.sample_id))),
    ['qa-2', 'qa-3'],
  );
  assert.deepEqual(
    SAMPLES.filter((s) => admits({ staleOnly: true }, s)).map((s) => s.sample_id),
    ['qa-2'],
  );
  assert.deepEqual(countStates(SAMPLES), { pending: 2, accepted: 1, edited: 0, rejected: 1 });
  assert.equal(sampleDescription(SAMPLES[2]), 'pending · stale');
  assert.equal(sampleDescription(SAMPLES[1]), 'accepted');
});

test('the sample panel shows the review, the trace, evidence links and the actions, escaped', () => {
  const html = renderSampleHtml(
    sample('qa-9', 'src/<A>.java', 'c7', 3, { question: 'Is <b> escaped?', review: accepted, stale: true, stale_chunks: ['c7'] }),
    'NONCE',
    'vscode-resource:',
  );
  assert.match(html, /<h2>Is &lt;b&gt; escaped\?<\/h2>/);
  assert.match(html, /class="badge accepted">accepted<\/span> on 2026-12-06T16:00:00Z by ana/);
  assert.match(html, /stale: the code of c7 changed since/);
  for (const action of ['accept', 'edit', 'reject', 'regenerate']) {
    assert.match(html, new RegExp(`data-action="${action}" data-id="qa-9"`));
  }
  assert.match(html, /data-target="\{&quot;path&quot;:&quot;src\/&lt;A&gt;.java&quot;,&quot;line&quot;:3\}"/);
  assert.match(html, /<li>claim of qa-9 <code>\[c7\]<\/code><\/li>/);
  assert.match(html, /script-src 'nonce-NONCE'/);
});

test('a design sample shows its components', () => {
  const design = sample('design-1', 'src/A.java', 'c1', 1, {
    task: 'design',
    question: undefined,
    requirement: 'Let members give a reason',
    design: {
      summary: 'Add a reason',
      components: [{ layer: 'service', component: 'OrderService', action: 'modify', description: 'takes the reason' }],
      flow: ['validate', 'store'],
      consistency: [],
    },
  });
  const html = renderSampleHtml(design, 'N', 'c');
  assert.match(html, /<h2>Let members give a reason<\/h2>/);
  assert.match(html, /\[service\] change OrderService: takes the reason/);
});

test('training tokens are told from the others', () => {
  assert.equal(isTrainingToken('acdp/train/3'), true);
  assert.equal(isTrainingToken('acdp/index/1'), false);
});
