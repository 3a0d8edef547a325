-- End-to-end test of the acdp Neovim plugin in real headless Neovim against the real
-- `acdp lsp`. Run by nvim_e2e.sh, which sets:
--   ACDP_WORKSPACE  a temp copy of fixtures/shop
--   ACDP_CHUNKS     `acdp index <workspace> --format jsonl` of that copy
-- Each case is a function in CASES; add a case for each new flow. Prints one line per
-- case and "N passed, N failed", and exits non-zero on any failure.
local H = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local acdp = require('acdp')
local workspace = assert(os.getenv('ACDP_WORKSPACE'))
local chunks_file = assert(os.getenv('ACDP_CHUNKS'))
local SERVICE = 'src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java'
local METHOD = 'com.acme.shop.order.service.impl.OmsPortalOrderServiceImpl.generateOrder(OrderParam,Long)'
local WAIT_MS = 60000

local out = H.out

-- Expected chunks, by symbol, as `acdp index` cuts them.
local expected = {}
for line in io.lines(chunks_file) do
  local chunk = vim.json.decode(line)
  if chunk.path == SERVICE then
    expected[chunk.symbol] = chunk
  end
end

-- Every vim.notify message, so cases can assert what the user was told.
local messages = H.messages

local wait_for = H.wait_for

local wait_message = H.wait_message

local function locate(name)
  return H.locate(name, SERVICE)
end

local function floating_text()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      local buf = vim.api.nvim_win_get_buf(win)
      return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n'), win
    end
  end
end

local function close_floats()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      vim.api.nvim_win_close(win, true)
    end
  end
end

local function on_method()
  local line, col = locate('generateOrder')
  vim.api.nvim_win_set_cursor(0, { line, col + 1 })
end

local function client()
  return assert(acdp.client(0), 'acdp is not attached to the service buffer')
end

local CASES = {}

CASES[#CASES + 1] = { 'attaches and finishes indexing (progress end)', function()
  vim.cmd.edit(workspace .. '/' .. SERVICE)
  wait_for('acdp to attach', function() return acdp.client(0) ~= nil end)
  wait_for('the first index run to end', function() return acdp.state.indexed >= 1 end)
  assert(acdp.state.last_index_message:find('indexed %d+ files'), 'progress end message: ' .. tostring(acdp.state.last_index_message))
  assert(acdp.statusline() == 'acdp ✓', 'statusline: ' .. acdp.statusline())
  local caps = client().server_capabilities
  assert(caps.hoverProvider, 'no hoverProvider')
  assert(vim.tbl_contains(caps.executeCommandProvider.commands, 'acdp.reindex'), 'acdp.reindex not advertised')
end }

CASES[#CASES + 1] = { 'hover on a service method shows its chunk_id (standard hover UI)', function()
  on_method()
  close_floats()
  vim.lsp.buf.hover()
  local text
  wait_for('the hover window', function()
    text = floating_text()
    return text ~= nil
  end)
  local want = assert(expected[METHOD], METHOD .. ' missing from acdp index output')
  assert(text:find(want.chunk_id, 1, true), 'hover lacks chunk_id ' .. want.chunk_id .. ':\n' .. text)
  assert(text:find(METHOD, 1, true), 'hover lacks the symbol:\n' .. text)
  assert(text:find(want.content_hash, 1, true), 'hover lacks content_hash ' .. want.content_hash)
  local lines = want.start_line .. '-' .. want.end_line
  assert(text:find(lines, 1, true), 'hover lacks lines ' .. lines .. ':\n' .. text)
  close_floats()
end }

CASES[#CASES + 1] = { 'code actions list "Show chunk" and running it shows the chunk', function()
  on_method()
  local c = client()
  local params = vim.lsp.util.make_range_params(0, c.offset_encoding)
  params.context = { diagnostics = {} }
  local response = c:request_sync('textDocument/codeAction', params, WAIT_MS, 0)
  assert(response and not response.err, 'codeAction failed: ' .. vim.inspect(response))
  local titles = vim.tbl_map(function(a) return a.title end, response.result or {})
  assert(vim.tbl_contains(titles, 'Show chunk for ' .. METHOD), 'actions: ' .. vim.inspect(titles))
  acdp.state.last_chunk = nil
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action) return action.title:find('^Show chunk for ') ~= nil end,
  })
  wait_for('the chunk from acdp.showChunk', function() return acdp.state.last_chunk ~= nil end)
  assert(acdp.state.last_chunk.chunk_id == expected[METHOD].chunk_id, 'shown: ' .. vim.inspect(acdp.state.last_chunk))
  local text = floating_text()
  assert(text and text:find(expected[METHOD].chunk_id, 1, true), 'no chunk window: ' .. tostring(text))
  close_floats()
end }

CASES[#CASES + 1] = { ':AcdpChunk shows the chunk under the cursor', function()
  on_method()
  acdp.state.last_chunk = nil
  vim.cmd('AcdpChunk')
  wait_for(':AcdpChunk', function() return acdp.state.last_chunk ~= nil end)
  assert(acdp.state.last_chunk.symbol == METHOD, 'chunk: ' .. acdp.state.last_chunk.symbol)
  assert(acdp.state.last_chunk.text:find('generateOrder', 1, true))
  close_floats()
end }

CASES[#CASES + 1] = { 'typing above the method keeps its chunk_id (incremental didChange)', function()
  local want = expected[METHOD]
  acdp.state.last_chunks_changed = nil
  local moved = {}
  local listener = vim.api.nvim_create_autocmd('User', {
    pattern = 'AcdpChunksChanged',
    callback = function(ev) vim.list_extend(moved, ev.data.moved or {}) end,
  })
  -- A line with CJK text and an emoji (a UTF-16 surrogate pair) above the method's chunk
  -- (which starts at its doc comment or annotation).
  vim.api.nvim_buf_set_lines(0, want.start_line - 1, want.start_line - 1, false, { '    // 备注 🙂 inserted by the test' })
  wait_for('acdp/chunksChanged', function() return acdp.state.last_chunks_changed ~= nil end)
  on_method()
  local c = client()
  local pos = vim.lsp.util.make_position_params(0, c.offset_encoding)
  local response = c:request_sync('acdp/chunk', { uri = pos.textDocument.uri, position = pos.position }, WAIT_MS, 0)
  assert(response and not response.err, vim.inspect(response))
  local chunk = response.result
  assert(chunk.chunk_id == want.chunk_id, 'id changed: ' .. chunk.chunk_id)
  assert(chunk.content_hash == want.content_hash, 'content changed: ' .. chunk.content_hash)
  -- 0-based start, one line lower than `acdp index`'s 1-based start_line
  assert(chunk.range.start.line == want.start_line, 'range did not move: ' .. vim.inspect(chunk.range))
  vim.api.nvim_del_autocmd(listener)
  assert(vim.tbl_contains(moved, want.chunk_id), 'not reported as moved: ' .. vim.inspect(moved))
  vim.cmd('silent undo')
end }

CASES[#CASES + 1] = { ':AcdpReindex reindexes with progress and reports the count', function()
  local from, runs = #messages, acdp.state.indexed
  vim.cmd('AcdpReindex')
  local message = wait_message('^acdp: reindexed', from)
  assert(message.msg:find('reindexed %d+ file%(s%), %d+ chunk%(s%) in 1 folder%(s%)'), message.msg)
  wait_for('the reindex progress to end', function() return acdp.state.indexed > runs end)
end }

-- Flows other engineers are adding: the command must either work or say, as a warning,
-- that the server does not have it yet; never an error.
local function answers_or_not_yet(command, feature)
  return function()
    local from = #messages
    acdp.state.outcomes[feature] = nil
    vim.cmd(command)
    wait_for(command .. ' to answer', function() return acdp.state.outcomes[feature] ~= nil end)
    local outcome = acdp.state.outcomes[feature]
    assert(outcome.status ~= 'error', command .. ' failed: ' .. tostring(outcome.message))
    out('     ' .. command:match('^%S+') .. ': ' .. outcome.status)
    if outcome.status == 'not_available' then
      local told = wait_message(feature .. ' is not available yet', from)
      assert(told.level == vim.log.levels.WARN, 'not a warning: ' .. told.msg)
    end
    vim.cmd('silent! only')
  end
end

CASES[#CASES + 1] = { ':AcdpAsk answers or says "not available yet"',
  answers_or_not_yet('AcdpAsk what happens when an order is cancelled?', 'Ask') }
CASES[#CASES + 1] = { ':AcdpSamples answers or says "not available yet"',
  answers_or_not_yet('AcdpSamples', 'Show samples') }
CASES[#CASES + 1] = { ':AcdpExport answers or says "not available yet"',
  answers_or_not_yet('AcdpExport ' .. workspace .. '/exported', 'Export dataset') }

CASES[#CASES + 1] = { ':AcdpDesign answers or says "not available yet"',
  answers_or_not_yet('AcdpDesign refund the coupon when an administrator closes an order', 'Design') }

CASES[#CASES + 1] = { ':AcdpEval scores the exported held-out questions', function()
  acdp.state.last_eval = nil
  vim.cmd('AcdpEval ' .. workspace .. '/exported/eval.jsonl')
  wait_for(':AcdpEval to answer', function() return acdp.state.last_eval ~= nil end)
  local result = acdp.state.last_eval
  assert(result.summary and result.summary.k == 6, vim.inspect(result))
  assert(result.markdown:find('| MRR |', 1, true), result.markdown)
  vim.cmd('silent! only')
end }

CASES[#CASES + 1] = { 'every user command is defined', function()
  local commands = vim.api.nvim_get_commands({})
  for _, name in ipairs({ 'AcdpAsk', 'AcdpDesign', 'AcdpEval', 'AcdpExport', 'AcdpTrain', 'AcdpSamples', 'AcdpReindex', 'AcdpChunk' }) do
    assert(commands[name], name .. ' is not defined')
  end
end }

H.run('nvim e2e', CASES)
