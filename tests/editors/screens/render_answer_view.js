// Renders the VS Code extension's "Ask the repository" view (editors/vscode/src/answerView.ts,
// compiled to out/) with an EXAMPLE answer, for docs/images/vscode-answer-view.png. The server
// has no acdp/ask yet: the answer text is written here by hand; the chunk ids are real ids of
// fixtures/shop. Usage: node render_answer_view.js > view.html (after npm run compile).
const path = require('path');
const { renderAnswerHtml } = require(path.join(__dirname, '../../../editors/vscode/out/answerView.js'));

const shop = 'file:///work/shop/src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java';
const html = renderAnswerHtml(
  'What does generateOrder check before it saves an order?',
  {
    answer:
      'It builds the order items and checks stock for every SKU first [1], then applies the coupon ' +
      'and the points the member chose, and adds freight unless the total reaches the free-shipping threshold [1].\n\n' +
      '(Example answer for this picture: the server does not implement acdp/ask yet.)',
    validated: true,
    citations: [
      { chunk_id: process.argv[2] || 'c0a625e422366', uri: shop, range: { start: { line: 64, character: 4 }, end: { line: 115, character: 5 } } },
    ],
  },
  'example',
  "'self'",
);
process.stdout.write(html);
