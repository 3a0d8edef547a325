--- The review of the editor's samples (`.acdp/samples.jsonl`): list them in the quickfix
--- list (`acdp/samples`), show one in a float, accept, reject, edit or regenerate it
--- (`acdp.reviewSample`, `acdp.editSample`, `acdp.regenerateSample`). What a verdict means
--- for the export is the server's business: `acdp.exportDataset` puts accepted and edited
--- samples in place of the generated ones with the same id and keeps rejected ones out.
---
--- The pure functions (`parse_filter`, `entry_text`, `quickfix_items`, `sample_lines`) hold
--- the layout; the rest sends requests through `require('acdp')` and draws their answers.
local M = {}

--- The quickfix list's title.
M.TITLE = 'acdp samples'

--- Review states `acdp/samples` filters on.
M.REVIEW_STATES = { 'pending', 'accepted', 'edited', 'rejected' }

M.state = {
  --- the filter of the last `:AcdpSamples` (nil: never listed), for the refresh after a verdict
  filter = nil,
  --- id of the quickfix list `:AcdpSamples` made last
  qf_id = nil,
  --- id of the sample shown last in the float
  shown = nil,
  --- the open float: { win, buf, sample_id, evidence_at = { [line] = evidence }, origin, resolve }
  float = nil,
}

local function acdp()
  return require('acdp')
end

local function notify(message, level)
  vim.notify('acdp: ' .. message, level or vim.log.levels.INFO)
end

local function is_table(value)
  return type(value) == 'table'
end

local function list_of(value)
  return is_table(value) and value or {}
end

local FILTER_VALUES = {
  review = M.REVIEW_STATES,
  task = { 'qa', 'design' },
  language = { 'en', 'zh' },
}

--- The `acdp/samples` filter for `:AcdpSamples` words (a string or a list): `review=STATE`,
--- `stale` (or `stale=true|false`), `task=qa|design`, `language=en|zh`, `chunk=ID`,
--- `symbol=NAME`; any other word is the symbol (samples citing it or its members).
--- Returns the filter (an empty table for "all") and a list of problems (empty when fine).
function M.parse_filter(words)
  if type(words) ~= 'table' then
    words = vim.split(words or '', '%s+', { trimempty = true })
  end
  local filter, problems = {}, {}
  local function set(key, value, word)
    if filter[key] ~= nil and filter[key] ~= value then
      table.insert(problems, string.format('%s given twice (%s)', key, word))
    end
    filter[key] = value
  end
  for _, word in ipairs(words) do
    local key, value = word:match('^([%w_]+)=(.*)$')
    if word == 'stale' then
      set('stale', true, word)
    elseif not key then
      set('symbol', word, word)
    elseif FILTER_VALUES[key] then
      if vim.tbl_contains(FILTER_VALUES[key], value) then
        set(key, value, word)
      else
        table.insert(problems, string.format('%s is one of %s, not "%s"', key, table.concat(FILTER_VALUES[key], '|'), value))
      end
    elseif key == 'stale' then
      if value == 'true' or value == 'false' then
        set('stale', value == 'true', word)
      else
        table.insert(problems, 'stale is true or false, not "' .. value .. '"')
      end
    elseif key == 'chunk' or key == 'chunk_id' then
      set('chunk_id', value, word)
    elseif key == 'symbol' then
      set('symbol', value, word)
    else
      table.insert(problems, string.format('unknown filter "%s" (review=, stale, task=, language=, chunk=, symbol=)', word))
    end
  end
  return filter, problems
end

--- The filter in words, for messages: "review=pending stale citing X", or "all".
function M.describe_filter(filter)
  local parts = {}
  for _, key in ipairs({ 'review', 'task', 'language' }) do
    if filter[key] then
      table.insert(parts, key .. '=' .. filter[key])
    end
  end
  if filter.stale ~= nil then
    table.insert(parts, filter.stale and 'stale' or 'stale=false')
  end
  if filter.chunk_id then
    table.insert(parts, 'chunk=' .. filter.chunk_id)
  end
  if filter.symbol then
    table.insert(parts, 'citing ' .. filter.symbol)
  end
  return #parts > 0 and table.concat(parts, ' ') or 'all'
end

--- `pending`, `accepted`, `edited` or `rejected`.
function M.review_state(sample)
  return is_table(sample.review) and sample.review.verdict or 'pending'
end

--- The question, or the requirement of a design sample.
function M.prompt(sample)
  local prompt = sample.question or sample.requirement
  return type(prompt) == 'string' and prompt or ''
end

local function one_line(text)
  return (text:gsub('%s*\n%s*', ' '))
end

--- A quickfix entry's text: `[pending] How does …? (qa-1234abcd5678)`, `[accepted, stale] …`.
function M.entry_text(sample)
  return string.format('[%s%s] %s (%s)', M.review_state(sample), sample.stale == true and ', stale' or '',
    one_line(M.prompt(sample)), sample.sample_id)
end

--- Quickfix items for `acdp/samples` results, sorted by the first evidence's file, line and
--- chunk (so a file's and a chunk's samples stand together), each at that evidence's
--- file:start_line; `user_data.sample_id` is the sample's id. `resolve(path)` turns an
--- evidence path (relative to its workspace folder) into a file name; a string is a root.
function M.quickfix_items(samples, resolve)
  if type(resolve) == 'string' then
    local root = resolve
    resolve = function(path)
      return vim.fs.joinpath(root, path)
    end
  end
  local keyed = {}
  for _, sample in ipairs(list_of(samples)) do
    local evidence = list_of(sample.evidence)[1]
    local item = {
      text = M.entry_text(sample),
      user_data = { sample_id = sample.sample_id },
    }
    if evidence then
      item.filename = resolve(evidence.path)
      item.lnum = evidence.start_line
      item.col = 1
    end
    local key = evidence and { evidence.path, evidence.start_line, evidence.chunk_id } or { '\255', 0, '' }
    table.insert(keyed, { item = item, key = key, id = sample.sample_id })
  end
  table.sort(keyed, function(a, b)
    for i = 1, 3 do
      if a.key[i] ~= b.key[i] then
        return a.key[i] < b.key[i]
      end
    end
    return a.id < b.id
  end)
  return vim.tbl_map(function(k)
    return k.item
  end, keyed)
end

local function add_text(lines, text)
  vim.list_extend(lines, vim.split(text or '', '\n', { plain = true }))
end

local function add_list(lines, heading, values, numbered)
  values = list_of(values)
  if #values == 0 then
    return
  end
  table.insert(lines, '### ' .. heading)
  for i, value in ipairs(values) do
    table.insert(lines, (numbered and (i .. '. ') or '- ') .. one_line(tostring(value)))
  end
end

local function add_design(lines, design, sample)
  design = is_table(design) and design or {}
  table.insert(lines, '## Design')
  add_text(lines, design.summary)
  local components = {}
  for _, c in ipairs(list_of(design.components)) do
    table.insert(components, string.format('%s `%s` (%s): %s', c.layer, c.component, c.action, c.description))
  end
  add_list(lines, 'Components', components)
  add_list(lines, 'API changes', design.api_changes)
  add_list(lines, 'Data changes', design.data_changes)
  add_list(lines, 'Flow', design.flow, true)
  add_list(lines, 'Consistency', design.consistency)
  local reused = {}
  for _, r in ipairs(list_of(design.reused)) do
    table.insert(reused, string.format('[%s] `%s`: %s', r.chunk_id, r.symbol, r.how))
  end
  add_list(lines, 'Reuses', reused)
  add_list(lines, 'Assumptions', sample.assumptions)
  add_list(lines, 'Risks', sample.risks)
end

--- The float's text for an `acdp/samples` sample: the question (or requirement), its review
--- state, the stale chunks, the answer (or design), the numbered trace with the evidence ids
--- each step cites, and one line per evidence, `[chunk_id] path:start-end symbol`. Returns
--- the lines and, by line number (1-based), the evidence that line shows.
function M.sample_lines(sample)
  local design = sample.task == 'design'
  local lines = { '# ' .. (design and 'Design: ' or '') .. one_line(M.prompt(sample)), '' }
  local state = M.review_state(sample)
  local review = ''
  if is_table(sample.review) then
    review = ' ' .. tostring(sample.review.at or '')
    if type(sample.review.reviewer) == 'string' then
      review = review .. ' by ' .. sample.review.reviewer
    end
  end
  table.insert(lines, string.format('`%s` · %s · %s · **%s**%s', sample.sample_id, sample.task or '?', sample.language or '?', state, review))
  local stale = list_of(sample.stale_chunks)
  if sample.stale == true or #stale > 0 then
    local ids = #stale > 0 and table.concat(vim.tbl_map(function(id)
      return '`' .. id .. '`'
    end, stale), ', ') or 'its evidence'
    table.insert(lines, string.format('**stale**: the code of %s changed since this sample was made; regenerate (g) or edit (e) it', ids))
  end
  table.insert(lines, '')
  if design then
    add_design(lines, sample.design, sample)
  else
    table.insert(lines, '## Answer')
    add_text(lines, sample.answer)
  end
  table.insert(lines, '')
  table.insert(lines, '## Trace')
  for i, step in ipairs(list_of(sample.trace)) do
    local cited = table.concat(vim.tbl_map(function(id)
      return '`' .. id .. '`'
    end, list_of(step.evidence)), ', ')
    table.insert(lines, string.format('%d. %s — %s', i, one_line(step.claim or ''), cited ~= '' and cited or 'no evidence'))
  end
  table.insert(lines, '')
  table.insert(lines, '## Evidence')
  local evidence_at = {}
  for _, evidence in ipairs(list_of(sample.evidence)) do
    table.insert(lines, string.format('[%s] %s:%d-%d %s', evidence.chunk_id, evidence.path, evidence.start_line, evidence.end_line, evidence.symbol))
    evidence_at[#lines] = evidence
  end
  table.insert(lines, '')
  table.insert(lines, '`a` accept · `r` reject · `e` edit · `g` regenerate · `<CR>` open evidence · `q` close')
  return lines, evidence_at
end

--- A function turning an evidence path into a file name: under the client's workspace
--- folder that has it (the first folder when none does).
function M.resolver(client)
  local roots = {}
  for _, folder in ipairs(client and client.workspace_folders or {}) do
    table.insert(roots, vim.uri_to_fname(folder.uri))
  end
  if #roots == 0 then
    table.insert(roots, client and client.root_dir or vim.fn.getcwd())
  end
  return function(path)
    if path:sub(1, 1) == '/' then
      return path
    end
    for _, root in ipairs(roots) do
      local file = vim.fs.joinpath(root, path)
      if vim.uv.fs_stat(file) then
        return file
      end
    end
    return vim.fs.joinpath(roots[1], path)
  end
end

local function samples_of(result)
  if is_table(result) and result.samples then
    return result.samples
  end
  return list_of(result)
end

local function qf_list_exists(id)
  return id ~= nil and vim.fn.getqflist({ id = id }).id == id
end

--- Puts `items` in the quickfix list: a new list (`fresh`), else the acdp list in place
--- (the same entry selected) when it still exists.
local function set_quickfix(items, fresh)
  local what = { title = M.TITLE, items = items, context = { acdp = 'samples' } }
  if not fresh and qf_list_exists(M.state.qf_id) then
    local idx = vim.fn.getqflist({ id = M.state.qf_id, idx = 0 }).idx
    what.id = M.state.qf_id
    what.idx = math.max(1, math.min(idx, #items))
    vim.fn.setqflist({}, 'r', what)
    return
  end
  vim.fn.setqflist({}, ' ', what)
  M.state.qf_id = vim.fn.getqflist({ id = 0 }).id
end

local function wire_filter(filter)
  return next(filter) and filter or vim.empty_dict()
end

local function list(filter, fresh)
  acdp().request('Show samples', 'acdp/samples', { filter = wire_filter(filter) }, function(result, client)
    acdp().state.last_samples = result
    local items = M.quickfix_items(samples_of(result), M.resolver(client))
    set_quickfix(items, fresh)
    if fresh then
      if #items == 0 then
        notify(string.format('no samples (%s) in .acdp/samples.jsonl; the code action "Generate QA samples for …" on a Java method makes some', M.describe_filter(filter)), vim.log.levels.WARN)
      else
        notify(string.format('%d sample(s) (%s) in the quickfix list; :AcdpSample on an entry shows it', #items, M.describe_filter(filter)))
        vim.cmd('copen')
      end
    end
  end)
end

--- `:AcdpSamples [filter words]`: the samples of `.acdp/samples.jsonl` (`acdp/samples`) in
--- a new quickfix list titled "acdp samples"; see `parse_filter` for the words.
function M.samples(words)
  local filter, problems = M.parse_filter(words)
  if #problems > 0 then
    notify('AcdpSamples: ' .. table.concat(problems, '; '), vim.log.levels.ERROR)
    return
  end
  M.state.filter = filter
  list(filter, true)
end

local function float_open()
  local float = M.state.float
  return float ~= nil and vim.api.nvim_win_is_valid(float.win)
end

--- The sample a command without an id is about: the float's when the cursor is in it, the
--- quickfix entry under the cursor in the quickfix window, else the sample shown last, else
--- the selected entry of the acdp quickfix list.
function M.target(id)
  if id and vim.trim(id) ~= '' then
    return vim.trim(id)
  end
  if float_open() and vim.api.nvim_get_current_win() == M.state.float.win then
    return M.state.float.sample_id
  end
  local win = vim.api.nvim_get_current_win()
  if vim.bo.buftype == 'quickfix' and vim.fn.getwininfo(win)[1].loclist == 0 then
    local item = vim.fn.getqflist({ items = 1 }).items[vim.fn.line('.')]
    if item and is_table(item.user_data) and item.user_data.sample_id then
      return item.user_data.sample_id
    end
  end
  if M.state.shown then
    return M.state.shown
  end
  if qf_list_exists(M.state.qf_id) then
    local list_info = vim.fn.getqflist({ id = M.state.qf_id, idx = 0, items = 1 })
    local item = list_info.items[list_info.idx]
    if item and is_table(item.user_data) then
      return item.user_data.sample_id
    end
  end
  notify('which sample? Give its id, or put the cursor on an entry of :AcdpSamples', vim.log.levels.WARN)
end

--- Calls `on_sample(sample, client)` with sample `id` as `acdp/samples` lists it.
local function with_sample(feature, id, on_sample)
  acdp().request(feature, 'acdp/samples', { filter = vim.empty_dict() }, function(result, client)
    for _, sample in ipairs(samples_of(result)) do
      if sample.sample_id == id then
        return on_sample(sample, client)
      end
    end
    notify(string.format('no sample %s in .acdp/samples.jsonl (removed or regenerated under another id?); list them again with :AcdpSamples', id), vim.log.levels.WARN)
  end)
end

local function is_normal_window(win)
  return vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_config(win).relative == ''
    and vim.bo[vim.api.nvim_win_get_buf(win)].buftype == ''
end

--- Makes a window for a file current: `preferred`, the current one, any normal one, else a
--- new one above.
local function go_to_file_window(preferred)
  if preferred and is_normal_window(preferred) then
    vim.api.nvim_set_current_win(preferred)
    return
  end
  if is_normal_window(vim.api.nvim_get_current_win()) then
    return
  end
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if is_normal_window(win) then
      vim.api.nvim_set_current_win(win)
      return
    end
  end
  vim.cmd('aboveleft new')
end

--- Closes the sample float, if one is open.
function M.close_float()
  local float = M.state.float
  M.state.float = nil
  if float and vim.api.nvim_win_is_valid(float.win) then
    vim.api.nvim_win_close(float.win, true)
  end
end

--- `<CR>` in the float: opens the evidence under the cursor at its first line.
function M.open_evidence()
  local float = M.state.float
  if not float_open() then
    return
  end
  local evidence = float.evidence_at[vim.api.nvim_win_get_cursor(float.win)[1]]
  if not evidence then
    notify('not an evidence line: <CR> on a line "[chunk] path:start-end symbol" opens it', vim.log.levels.WARN)
    return
  end
  local file = float.resolve(evidence.path)
  M.close_float()
  go_to_file_window(float.origin)
  vim.cmd.edit(vim.fn.fnameescape(file))
  local last = vim.api.nvim_buf_line_count(0)
  vim.api.nvim_win_set_cursor(0, { math.max(1, math.min(evidence.start_line, last)), 0 })
end

local function float_size(lines)
  local width = 0
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  width = math.max(40, math.min(width + 1, 100, vim.o.columns - 4))
  local height = 0
  for _, line in ipairs(lines) do
    height = height + math.max(1, math.ceil(vim.fn.strdisplaywidth(line) / width))
  end
  return width, math.max(1, math.min(height, vim.o.lines - 6))
end

local function draw(buf, lines)
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
end

--- Shows `sample` (as `acdp/samples` lists it) in a float, entered, with the review keys.
function M.open_float(sample, client)
  local lines, evidence_at = M.sample_lines(sample)
  local origin = vim.api.nvim_get_current_win()
  if float_open() then
    origin = M.state.float.origin
    M.close_float()
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  draw(buf, lines)
  vim.bo[buf].filetype = 'markdown'
  local width, height = float_size(lines)
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = math.max(0, math.floor((vim.o.lines - height) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    width = width,
    height = height,
    border = 'rounded',
    title = ' acdp sample ',
    title_pos = 'center',
    style = 'minimal',
  })
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  local id = sample.sample_id
  M.state.shown = id
  M.state.float = {
    win = win,
    buf = buf,
    sample_id = id,
    evidence_at = evidence_at,
    origin = origin,
    resolve = M.resolver(client or acdp().client()),
  }
  local function map(lhs, fn, desc)
    vim.keymap.set('n', lhs, fn, { buffer = buf, nowait = true, silent = true, desc = 'acdp: ' .. desc })
  end
  map('a', function() M.accept(id) end, 'accept this sample')
  map('r', function() M.reject(id) end, 'reject this sample')
  map('e', function() M.edit(id) end, 'edit this sample')
  map('g', function() M.regenerate(id) end, 'regenerate this sample')
  map('<CR>', M.open_evidence, 'open the evidence under the cursor')
  map('q', M.close_float, 'close')
  vim.api.nvim_create_autocmd('WinClosed', {
    pattern = tostring(win),
    once = true,
    callback = function()
      if M.state.float and M.state.float.win == win then
        M.state.float = nil
      end
    end,
  })
  return buf, win
end

--- Draws the float again when it shows `sample` (fresh from `acdp/samples`).
local function redraw_float(sample)
  local float = M.state.float
  if not float_open() or float.sample_id ~= sample.sample_id then
    return
  end
  local lines, evidence_at = M.sample_lines(sample)
  draw(float.buf, lines)
  float.evidence_at = evidence_at
  local width, height = float_size(lines)
  vim.api.nvim_win_set_config(float.win, { width = width, height = height })
end

--- After a verdict, an edit or a regeneration: the acdp quickfix list again with the last
--- filter (when it still exists), and the float when it is open.
function M.refresh()
  if M.state.filter and qf_list_exists(M.state.qf_id) then
    list(M.state.filter, false)
  end
  if float_open() then
    local id = M.state.float.sample_id
    acdp().request('Show sample', 'acdp/samples', { filter = vim.empty_dict() }, function(result)
      for _, sample in ipairs(samples_of(result)) do
        if sample.sample_id == id then
          return redraw_float(sample)
        end
      end
      M.close_float()
    end)
  end
end

--- `:AcdpSample [id]`: the sample in a float (see `sample_lines`); keys `a` accept, `r`
--- reject, `e` edit, `g` regenerate, `<CR>` opens the evidence under the cursor, `q` closes.
function M.show(id)
  id = M.target(id)
  if not id then
    return
  end
  with_sample('Show sample', id, function(sample, client)
    M.open_float(sample, client)
  end)
end

local VERDICT_TOLD = {
  accepted = 'accepted: the export uses it in place of the generated one',
  rejected = 'rejected: the export leaves it out, also when the generator makes it again',
}

local function review(feature, verdict, id)
  id = M.target(id)
  if not id then
    return
  end
  acdp().execute(feature, 'acdp.reviewSample', { { sample_id = id, verdict = verdict } }, function(sample)
    local recorded = is_table(sample) and M.review_state(sample) or verdict
    notify(string.format('%s %s', id, recorded == verdict and VERDICT_TOLD[verdict] or recorded))
    M.refresh()
  end)
end

--- `:AcdpAccept [id]`: `acdp.reviewSample` {verdict: "accepted"}. The server refuses a
--- sample that no longer passes validation against the code (regenerate or edit it first).
function M.accept(id)
  review('Accept sample', 'accepted', id)
end

--- `:AcdpReject [id]`: `acdp.reviewSample` {verdict: "rejected"}.
function M.reject(id)
  review('Reject sample', 'rejected', id)
end

--- Attaches the acdp client to an edit file's buffer (`.acdp/review/<id>.json`), so that
--- opening and saving it reach the server, which checks the edit (diagnostics) and records
--- a clean save as edited. `client` defaults to the running acdp client.
function M.attach(buf, client)
  client = client or acdp().client()
  if not client or not vim.api.nvim_buf_is_valid(buf) then
    return false
  end
  if vim.lsp.buf_is_attached(buf, client.id) then
    return true
  end
  return vim.lsp.buf_attach_client(buf, client.id)
end

--- Opens the edit file `path` in a file window; an unchanged buffer of it is read again
--- (the server just wrote the file).
local function open_edit_file(path, client)
  go_to_file_window(nil)
  local existing = vim.fn.bufnr(path)
  local loaded = existing ~= -1 and vim.api.nvim_buf_is_loaded(existing)
  vim.cmd.edit(vim.fn.fnameescape(path))
  if loaded and not vim.bo.modified then
    vim.cmd.edit()
  end
  M.attach(vim.api.nvim_get_current_buf(), client)
end

--- `:AcdpEdit [id]`: `acdp.editSample` writes `.acdp/review/<id>.json`; it opens with the
--- acdp client attached. Edit the answer (or design) and the trace, then `:write`: the
--- server checks the file against the code (problems become diagnostics on their lines)
--- and records a clean save as edited ("<id> saved as edited").
function M.edit(id)
  id = M.target(id)
  if not id then
    return
  end
  acdp().execute('Edit sample', 'acdp.editSample', { { sample_id = id } }, function(file, client)
    if not is_table(file) or not (file.path or file.uri) then
      notify('Edit sample: no file in the answer: ' .. vim.inspect(file), vim.log.levels.ERROR)
      return
    end
    M.close_float()
    open_edit_file(file.path or vim.uri_to_fname(file.uri), client)
    notify(string.format('editing %s: correct the answer (or design) and the trace, then :write; problems show as diagnostics, a clean save is kept as edited', id))
  end)
end

--- `:AcdpRegenerate [id]`: `acdp.regenerateSample` makes the sample again from the code as
--- it is now, not reviewed; an error when the generator no longer makes it (reject it then).
function M.regenerate(id)
  id = M.target(id)
  if not id then
    return
  end
  acdp().execute('Regenerate sample', 'acdp.regenerateSample', { { sample_id = id } }, function()
    notify(string.format('%s regenerated from the code as it is now; review it again', id))
    M.refresh()
  end)
end

--- `window/showMessage` for the acdp client: Neovim's handler, then a refresh when a saved
--- edit was recorded ("<id> saved as edited in .acdp/samples.jsonl").
function M.on_show_message(err, params, ctx, config)
  local shown = vim.lsp.handlers['window/showMessage'](err, params, ctx, config)
  if is_table(params) and type(params.message) == 'string' and params.message:find(' saved as edited in ', 1, true) then
    M.refresh()
  end
  return shown
end

--- Sample ids for command completion: those `:AcdpSamples` listed last.
function M.complete_ids(lead)
  local ids = {}
  for _, sample in ipairs(samples_of(acdp().state.last_samples)) do
    if type(sample.sample_id) == 'string' and vim.startswith(sample.sample_id, lead or '') then
      table.insert(ids, sample.sample_id)
    end
  end
  return ids
end

--- `:AcdpSamples` completion: the filter words.
function M.complete_filter(lead)
  local words = { 'stale', 'stale=false', 'task=qa', 'task=design', 'language=en', 'language=zh', 'chunk=', 'symbol=' }
  for _, state in ipairs(M.REVIEW_STATES) do
    table.insert(words, 'review=' .. state)
  end
  return vim.tbl_filter(function(word)
    return vim.startswith(word, lead or '')
  end, words)
end

return M
