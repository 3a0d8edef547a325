-- End-to-end test of the sample review from Neovim (editors/nvim/lua/acdp/review.lua) in
-- real headless Neovim against the real `acdp lsp`: generate QA samples with the code
-- action, list them (:AcdpSamples), accept one from the float (:AcdpSample, key `a`), edit
-- one (:AcdpEdit, :write with an ungrounded identifier, then fixed), reject one, export
-- (:AcdpExport) and check the dataset. The flow of tests/lsp.rs
-- `reviewed_samples_replace_generated_ones_in_the_export`. Run by nvim_e2e.sh, which sets:
--   ACDP_WORKSPACE  a fresh temp copy of fixtures/shop (no other test touches it)
--   ACDP_BIN        the acdp binary (also for `acdp pipeline --no-editor-samples`)
-- Prints one line per case and "N passed, N failed"; exits non-zero on any failure.
local H = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local acdp = require('acdp')
local review = require('acdp.review')
local workspace = assert(os.getenv('ACDP_WORKSPACE'))
local acdp_bin = assert(os.getenv('ACDP_BIN'))
local SERVICE = 'src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java'
local CLASS = 'com.acme.shop.order.service.impl.OmsPortalOrderServiceImpl'
local REVIEWER = 'nvim-e2e'
local WAIT_MS = 60000

local out = H.out

-- The reviewer setting on top of minimal_init.lua's (before any buffer starts the server).
local options = vim.deepcopy(acdp.options)
options.settings.reviewer = REVIEWER
acdp.setup(options)

-- Every vim.notify message (the plugin's and the server's window/showMessage).
local messages = H.messages

local wait_for = H.wait_for

local wait_message = H.wait_message

local function read_jsonl(path)
  local samples = {}
  for line in io.lines(path) do
    if line ~= '' then
      table.insert(samples, vim.json.decode(line))
    end
  end
  return samples
end

local function by_id(samples)
  local map = {}
  for _, sample in ipairs(samples) do
    map[sample.sample_id] = sample
  end
  return map
end

local function stored(id)
  return by_id(read_jsonl(workspace .. '/.acdp/samples.jsonl'))[id]
end

local function floating()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      local buf = vim.api.nvim_win_get_buf(win)
      return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n'), win, buf
    end
  end
end

local function feed(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), 'mx', false)
end

--- Runs `:AcdpSamples words` and waits for its answer; returns the quickfix items.
local function list_samples(words)
  acdp.state.outcomes['Show samples'] = nil
  vim.cmd('AcdpSamples ' .. words)
  wait_for(':AcdpSamples ' .. words, function() return acdp.state.outcomes['Show samples'] ~= nil end)
  local outcome = acdp.state.outcomes['Show samples']
  assert(outcome.status == 'ok', ':AcdpSamples failed: ' .. tostring(outcome.message))
  local list = vim.fn.getqflist({ title = 1, items = 1 })
  assert(list.title == 'acdp samples', 'quickfix title: ' .. list.title)
  return list.items
end

--- The text of the acdp quickfix entry of sample `id` (nil when it is not listed).
local function entry_of(id)
  local list = vim.fn.getqflist({ id = review.state.qf_id, items = 1 })
  for _, item in ipairs(list.items or {}) do
    if type(item.user_data) == 'table' and item.user_data.sample_id == id then
      return item.text
    end
  end
end

local function wait_entry(id, prefix)
  wait_for('the quickfix entry of ' .. id .. ' to start with ' .. prefix, function()
    local text = entry_of(id)
    return text ~= nil and vim.startswith(text, prefix)
  end)
end

local function locate(name)
  return H.locate(name, SERVICE)
end

local function go_to_service()
  vim.cmd('silent! only')
  vim.cmd.edit(workspace .. '/' .. SERVICE)
end

-- Shared between cases: the samples the code action made (in file order) and the three
-- reviewed ones.
local generated = {}
local accepted, edited, rejected, fixed_answer

local CASES = {}

CASES[#CASES + 1] = { 'pure: filter words, quickfix entries, float lines', function()
  local filter, problems = review.parse_filter('review=pending stale task=qa language=zh chunk=c1 com.acme.Type')
  assert(#problems == 0, vim.inspect(problems))
  assert(vim.deep_equal(filter, { review = 'pending', stale = true, task = 'qa', language = 'zh', chunk_id = 'c1', symbol = 'com.acme.Type' }), vim.inspect(filter))
  assert(vim.deep_equal(review.parse_filter({ 'Sym' }), { symbol = 'Sym' }), 'a bare word is the symbol')
  assert(vim.deep_equal(review.parse_filter(''), {}), 'no words: everything')
  assert(vim.deep_equal(review.parse_filter('stale=false'), { stale = false }))
  local _, bad = review.parse_filter('review=maybe task=poem colour=red')
  assert(#bad == 3, vim.inspect(bad))
  assert(review.describe_filter({ review = 'pending', symbol = 'X' }) == 'review=pending citing X', review.describe_filter({ review = 'pending', symbol = 'X' }))

  local function sample(id, path, line, chunk, extra)
    return vim.tbl_extend('force', {
      sample_id = id,
      task = 'qa',
      language = 'en',
      question = 'How does\n' .. id .. ' work?',
      answer = 'It works.',
      evidence = { { chunk_id = chunk, path = path, symbol = 'a.B.m()', start_line = line, end_line = line + 3 } },
      trace = { { claim = 'It works.', evidence = { chunk } } },
      stale = false,
    }, extra or {})
  end
  local items = review.quickfix_items({
    sample('qa-3', 'b/B.java', 5, 'c5'),
    sample('qa-2', 'a/A.java', 40, 'c9', { review = { verdict = 'accepted', at = 't' }, stale = true, stale_chunks = { 'c9' } }),
    sample('qa-1', 'a/A.java', 10, 'c2'),
    sample('qa-0', 'a/A.java', 10, 'c2'),
  }, '/ws')
  local got = vim.tbl_map(function(i) return { i.filename, i.lnum, i.user_data.sample_id } end, items)
  assert(vim.deep_equal(got, {
    { '/ws/a/A.java', 10, 'qa-0' },
    { '/ws/a/A.java', 10, 'qa-1' },
    { '/ws/a/A.java', 40, 'qa-2' },
    { '/ws/b/B.java', 5, 'qa-3' },
  }), vim.inspect(got))
  assert(items[1].text == '[pending] How does qa-0 work? (qa-0)', items[1].text)
  assert(items[3].text == '[accepted, stale] How does qa-2 work? (qa-2)', items[3].text)

  local lines, evidence_at = review.sample_lines(sample('qa-2', 'a/A.java', 40, 'c9', {
    review = { verdict = 'edited', at = '2026-12-06T16:00:00Z', reviewer = 'ana' },
    stale = true,
    stale_chunks = { 'c9' },
  }))
  local text = table.concat(lines, '\n')
  for _, want in ipairs({ '# How does qa-2 work?', '**edited** 2026-12-06T16:00:00Z by ana', '**stale**: the code of `c9`',
    '## Answer\nIt works.', '## Trace\n1. It works. — `c9`', '## Evidence\n[c9] a/A.java:40-43 a.B.m()' }) do
    assert(text:find(want, 1, true), 'float lacks ' .. want .. ':\n' .. text)
  end
  local evidence_line = vim.fn.index(lines, '[c9] a/A.java:40-43 a.B.m()') + 1
  assert(evidence_at[evidence_line] and evidence_at[evidence_line].chunk_id == 'c9', vim.inspect(evidence_at))
end }

CASES[#CASES + 1] = { 'attaches and indexes the fresh shop copy', function()
  vim.cmd.edit(workspace .. '/' .. SERVICE)
  wait_for('acdp to attach', function() return acdp.client(0) ~= nil end)
  wait_for('the first index run to end', function() return acdp.state.indexed >= 1 end)
  local commands = vim.api.nvim_get_commands({})
  for _, name in ipairs({ 'AcdpSamples', 'AcdpSample', 'AcdpAccept', 'AcdpReject', 'AcdpEdit', 'AcdpRegenerate' }) do
    assert(commands[name], name .. ' is not defined')
  end
end }

CASES[#CASES + 1] = { 'the "Generate QA samples" code action on cancelOrder writes samples', function()
  local line, col = locate('cancelOrder')
  vim.api.nvim_win_set_cursor(0, { line, col + 1 })
  local from = #messages
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action) return action.title:find('^Generate QA samples for ') ~= nil end,
  })
  local told = wait_message('sample%(s%) added to %.acdp/samples%.jsonl for ', from)
  local added = tonumber(told.msg:match('(%d+) sample%(s%) added'))
  generated = vim.tbl_map(function(s) return s.sample_id end, read_jsonl(workspace .. '/.acdp/samples.jsonl'))
  assert(added >= 3 and #generated == added, told.msg .. ' / ' .. vim.inspect(generated))
  out(string.format('     %d samples', added))
end }

CASES[#CASES + 1] = { ':AcdpSamples lists them in the quickfix list, sorted, at their evidence', function()
  local items = list_samples('')
  assert(#items == #generated, #items .. ' items for ' .. #generated .. ' samples')
  assert(#acdp.state.last_samples == #generated, 'last_samples')
  local listed = by_id(acdp.state.last_samples)
  local previous
  for _, item in ipairs(items) do
    local id = item.user_data.sample_id
    assert(vim.tbl_contains(generated, id), 'not generated: ' .. tostring(id))
    assert(item.text:find('^%[pending%] .+ %(' .. vim.pesc(id) .. '%)$'), item.text)
    -- At the sample's first evidence; sorted by its file, then line.
    local first = listed[id].evidence[1]
    local file = vim.api.nvim_buf_get_name(item.bufnr)
    assert(file == workspace .. '/' .. first.path, file .. ' is not ' .. first.path)
    assert(item.lnum == first.start_line, id .. ' at line ' .. item.lnum .. ', its evidence at ' .. first.start_line)
    local key = string.format('%s:%08d', first.path, item.lnum)
    assert(not previous or previous <= key, 'not sorted: ' .. key .. ' after ' .. tostring(previous))
    previous = key
  end
  -- The old form, a symbol, still filters; filter words combine.
  assert(#list_samples(CLASS) == #generated, ':AcdpSamples ' .. CLASS)
  assert(#list_samples('com.acme.NoSuchType') == 0, 'a symbol nobody cites')
  assert(#list_samples('review=pending task=qa language=en') == #generated, 'review=pending task=qa language=en')
  local from = #messages
  vim.cmd('AcdpSamples review=maybe')
  local told = wait_message('AcdpSamples: review is one of', from)
  assert(told.level == vim.log.levels.ERROR, told.msg)
  list_samples('')
end }

CASES[#CASES + 1] = { 'three of them are also what `acdp pipeline --no-editor-samples` makes', function()
  local plain = vim.fn.tempname()
  local output = vim.fn.system({ acdp_bin, 'pipeline', workspace, '--no-editor-samples', '--out', plain })
  assert(vim.v.shell_error == 0, 'acdp pipeline failed: ' .. output)
  local generated_only = by_id(read_jsonl(plain .. '/samples.jsonl'))
  local in_both = vim.tbl_filter(function(id) return generated_only[id] ~= nil end, generated)
  assert(#in_both >= 3, vim.inspect(in_both))
  accepted, edited, rejected = in_both[1], in_both[2], in_both[3]
end }

CASES[#CASES + 1] = { ':AcdpSample shows the quickfix entry under the cursor in a float', function()
  vim.cmd('copen')
  local items = vim.fn.getqflist()
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  local id = items[2].user_data.sample_id
  vim.cmd('AcdpSample')
  local text
  wait_for('the sample float', function()
    text = floating()
    return text ~= nil and text:find(id, 1, true) ~= nil
  end)
  assert(review.state.shown == id, tostring(review.state.shown))
  feed('q')
  assert(floating() == nil, 'q did not close the float')
end }

CASES[#CASES + 1] = { 'the float shows the sample; `a` accepts it, `<CR>` opens its evidence', function()
  go_to_service()
  vim.cmd('AcdpSample ' .. accepted)
  local text, win
  wait_for('the sample float', function()
    text, win = floating()
    return text ~= nil and text:find(accepted, 1, true) ~= nil
  end)
  local sample = stored(accepted)
  local evidence = sample.evidence[1]
  local evidence_line = string.format('[%s] %s:%d-%d %s', evidence.chunk_id, evidence.path, evidence.start_line, evidence.end_line, evidence.symbol)
  for _, want in ipairs({ '# ' .. sample.question, '**pending**', '## Answer', '## Trace', '1. ', evidence_line, '`a` accept' }) do
    assert(text:find(want, 1, true), 'float lacks ' .. want .. ':\n' .. text)
  end
  assert(vim.api.nvim_get_current_win() == win, 'the float is not focused')
  local from = #messages
  feed('a')
  wait_message(vim.pesc(accepted) .. ' accepted', from)
  wait_for('the float to show accepted', function()
    text = floating()
    return text ~= nil and text:find('**accepted**', 1, true) ~= nil
  end)
  assert(text:find('by ' .. REVIEWER, 1, true), 'no reviewer in the float:\n' .. text)
  wait_entry(accepted, '[accepted] ')
  assert(stored(accepted).review.verdict == 'accepted')
  -- <CR> on the evidence line: the file at the evidence's first line.
  local lines = vim.split(text, '\n', { plain = true })
  vim.api.nvim_win_set_cursor(win, { vim.fn.index(lines, evidence_line) + 1, 0 })
  feed('<CR>')
  assert(floating() == nil, 'the float stayed open')
  assert(vim.api.nvim_buf_get_name(0) == workspace .. '/' .. SERVICE, vim.api.nvim_buf_get_name(0))
  assert(vim.api.nvim_win_get_cursor(0)[1] == evidence.start_line, 'cursor at ' .. vim.api.nvim_win_get_cursor(0)[1])
end }

CASES[#CASES + 1] = { ':AcdpEdit: an ungrounded identifier is an error on the answer line; the fix is saved as edited', function()
  local from = #messages
  vim.cmd('AcdpEdit ' .. edited)
  local path = workspace .. '/.acdp/review/' .. edited .. '.json'
  wait_for('the edit file', function() return vim.api.nvim_buf_get_name(0) == path end)
  wait_message('editing ' .. vim.pesc(edited) .. ': correct the answer', from)
  local buf = vim.api.nvim_get_current_buf()
  assert(#vim.lsp.get_clients({ bufnr = buf, name = 'acdp' }) == 1, 'acdp is not attached to the edit file')
  local changed = 0
  vim.api.nvim_create_autocmd('DiagnosticChanged', { buffer = buf, callback = function() changed = changed + 1 end })
  local edit = vim.json.decode(table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n'))
  assert(edit.sample_id == edited and edit.question and edit.answer and edit.trace and edit.evidence, vim.inspect(edit))
  local answer_line
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if vim.startswith(line, '  "answer": ') then
      answer_line = i
    end
  end
  assert(answer_line, 'no answer line')
  local comma = vim.endswith(vim.api.nvim_buf_get_lines(buf, answer_line - 1, answer_line, false)[1], ',') and ',' or ''
  local function set_answer(answer)
    vim.api.nvim_buf_set_lines(buf, answer_line - 1, answer_line, false, { '  "answer": ' .. vim.json.encode(answer) .. comma })
  end

  set_answer(edit.answer .. ' It calls `frobnicateOrder` first.')
  vim.cmd('silent write')
  local diagnostics
  wait_for('the identifiers_grounded error', function()
    diagnostics = vim.diagnostic.get(buf)
    return #diagnostics > 0
  end)
  local d = diagnostics[1]
  assert(d.code == 'identifiers_grounded', vim.inspect(diagnostics))
  assert(d.severity == vim.diagnostic.severity.ERROR, vim.inspect(d))
  assert(d.source == 'acdp', vim.inspect(d))
  assert(d.lnum == answer_line - 1, 'on line ' .. d.lnum .. ', the answer is on ' .. (answer_line - 1))
  assert(d.message:find('frobnicateOrder', 1, true), d.message)
  assert(stored(edited).review == nil, 'a failed edit was recorded')

  from, changed = #messages, 0
  fixed_answer = 'Reviewed: ' .. edit.answer
  set_answer(fixed_answer)
  vim.cmd('silent write')
  wait_message(vim.pesc(edited) .. ' saved as edited in %.acdp/samples%.jsonl', from)
  wait_for('the diagnostics to clear', function() return changed > 0 and #vim.diagnostic.get(buf) == 0 end)
  local sample = stored(edited)
  assert(sample.review.verdict == 'edited' and sample.review.reviewer == REVIEWER, vim.inspect(sample.review))
  assert(sample.answer == fixed_answer, sample.answer)
  wait_entry(edited, '[edited] ')
end }

CASES[#CASES + 1] = { ':AcdpReject rejects; review= filters list the states', function()
  go_to_service()
  local from = #messages
  vim.cmd('AcdpReject ' .. rejected)
  wait_message(vim.pesc(rejected) .. ' rejected', from)
  wait_entry(rejected, '[rejected] ')
  assert(stored(rejected).review.verdict == 'rejected')
  local items = list_samples('review=rejected')
  assert(#items == 1 and items[1].user_data.sample_id == rejected, vim.inspect(items))
  assert(#list_samples('review=pending') == #generated - 3, 'pending')
  assert(#list_samples('review=accepted') == 1, 'accepted')
  assert(#list_samples('review=edited') == 1, 'edited')
end }

CASES[#CASES + 1] = { ':AcdpExport: the accepted and edited samples replace the generated ones, the rejected one is out', function()
  go_to_service()
  acdp.state.outcomes['Export dataset'] = nil
  vim.cmd('AcdpExport')
  wait_for(':AcdpExport', function() return acdp.state.outcomes['Export dataset'] ~= nil end)
  assert(acdp.state.outcomes['Export dataset'].status == 'ok', vim.inspect(acdp.state.outcomes['Export dataset']))
  local out_dir = workspace .. '/.acdp/dataset'
  local dataset = by_id(read_jsonl(out_dir .. '/samples.jsonl'))
  assert(dataset[accepted] and dataset[accepted].review.verdict == 'accepted', vim.inspect(dataset[accepted]))
  assert(dataset[edited] and dataset[edited].review.verdict == 'edited', vim.inspect(dataset[edited]))
  assert(dataset[edited].answer == fixed_answer, dataset[edited].answer)
  assert(dataset[rejected] == nil, 'the rejected sample was exported')
  local file = assert(io.open(out_dir .. '/stats.json'))
  local stats = vim.json.decode(file:read('*a'))
  file:close()
  for key, want in pairs({ accepted = 1, edited = 1, rejected = 1, replaced_generated = 2, rejected_generated = 1 }) do
    assert(stats.review[key] == want, key .. ': ' .. vim.inspect(stats.review))
  end
  file = assert(io.open(out_dir .. '/stats.md'))
  local md = file:read('*a')
  file:close()
  assert(md:find('## Review', 1, true) and md:find('1 accepted, 1 edited, 1 rejected', 1, true), md)
end }

CASES[#CASES + 1] = { ':AcdpRegenerate puts the generated version back, not reviewed', function()
  list_samples('')
  local from = #messages
  vim.cmd('AcdpRegenerate ' .. accepted)
  wait_message(vim.pesc(accepted) .. ' regenerated', from)
  wait_entry(accepted, '[pending] ')
  assert(stored(accepted).review == nil, vim.inspect(stored(accepted).review))
end }

CASES[#CASES + 1] = { 'typing in cancelOrder makes its samples stale (:AcdpSamples stale)', function()
  go_to_service()
  local line = locate('cancelOrder')
  vim.api.nvim_buf_set_lines(0, line, line, false, { '        // changed by the review test' })
  local items
  wait_for('stale samples', function()
    items = list_samples('stale')
    return #items == #generated
  end)
  for _, item in ipairs(items) do
    assert(item.text:find('^%[%a+, stale%] '), item.text)
  end
  vim.cmd('AcdpSample ' .. edited)
  local text
  wait_for('the stale sample float', function()
    text = floating()
    return text ~= nil and text:find(edited, 1, true) ~= nil
  end)
  assert(text:find('**stale**', 1, true), text)
  feed('q')
  vim.cmd('silent undo')
end }

H.run('nvim review e2e', CASES)
