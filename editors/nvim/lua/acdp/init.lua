--- acdp for Neovim 0.11+: configures the `acdp lsp` language server in the
--- `vim.lsp.config` / `vim.lsp.enable` style and gives Lua functions behind the `:Acdp*`
--- commands. Hover and code actions go through Neovim's own UI; this module only adds what
--- the standard client cannot know: acdp's custom requests, its commands' results, and
--- index progress for the statusline.
---
--- Requests the server does not have yet (an older `acdp`) answer "method not found" or
--- "unknown command"; every entry point turns that into one warning saying the feature is
--- not available yet, never an error.
local M = {}

--- Settings sent as `initializationOptions` and as `workspace/didChangeConfiguration`
--- (`settings.acdp`). Names match the VS Code extension's `acdp.*` settings.
M.defaults = {
  server_path = 'acdp',
  settings = {
    modelDir = nil,
    adapter = nil,
    llm = { baseUrl = nil, model = nil, apiKeyEnv = 'OPENAI_API_KEY' },
    sampleLanguage = 'en',
    --- who reviews: recorded with each accept, edit and reject (`review.reviewer`)
    reviewer = nil,
  },
}

M.options = vim.deepcopy(M.defaults)

--- What the server reported: progress of the current index run, the last chunks change.
M.state = {
  --- token -> { title, message, percentage }
  progress = {},
  --- completed index runs (`$/progress` end) since the client started
  indexed = 0,
  last_index_message = nil,
  last_chunks_changed = nil,
  --- the chunk shown last by `acdp.showChunk` or `:AcdpChunk`
  last_chunk = nil,
  --- the last `acdp/ask` result and `acdp/samples` result
  last_answer = nil,
  last_samples = nil,
  --- feature ("Ask", "Reindex", ...) -> { status = 'ok' | 'not_available' | 'error', message }
  outcomes = {},
}

local JSONRPC_METHOD_NOT_FOUND = -32601
local JSONRPC_INVALID_PARAMS = -32602

local function notify(message, level)
  vim.notify('acdp: ' .. message, level or vim.log.levels.INFO)
end

--- The `acdp` client attached to `bufnr` (default: current buffer), else any running one.
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = 'acdp', bufnr = bufnr or 0 })
  if #clients == 0 then
    clients = vim.lsp.get_clients({ name = 'acdp' })
  end
  return clients[1]
end

--- Whether an error answer means "this server does not have that yet".
function M.is_not_available(err)
  if not err then
    return false
  end
  if err.code == JSONRPC_METHOD_NOT_FOUND then
    return true
  end
  return err.code == JSONRPC_INVALID_PARAMS and tostring(err.message or ''):find('unknown command', 1, true) ~= nil
end

--- Answers an acdp request: `on_result(result, client)` on success, else one message;
--- "method not found" and "unknown command" become a warning that the feature is not
--- available yet. The outcome is kept in `M.state.outcomes[feature]`.
local function answer(feature, what, client, on_result)
  return function(err, result)
    if err then
      local status, message, level
      if M.is_not_available(err) then
        status, level = 'not_available', vim.log.levels.WARN
        message = string.format('%s is not available yet: this acdp server does not implement %s (%s)', feature, what, err.message or err.code)
      else
        status, level = 'error', vim.log.levels.ERROR
        message = string.format('%s failed: %s', feature, err.message or vim.inspect(err))
      end
      M.state.outcomes[feature] = { status = status, message = message }
      notify(message, level)
      return
    end
    M.state.outcomes[feature] = { status = 'ok' }
    on_result(result, client)
  end
end

--- Sends `method` to the acdp server and calls `on_result(result, client)` on success.
--- `feature` names the user-facing action in messages ("Ask", "Export dataset").
function M.request(feature, method, params, on_result, bufnr, what)
  local client = M.client(bufnr)
  if not client then
    M.state.outcomes[feature] = { status = 'error', message = 'not running' }
    notify(feature .. ': the acdp language server is not running (open a Java file, or check :checkhealth vim.lsp)', vim.log.levels.ERROR)
    return
  end
  client:request(method, params, answer(feature, what or method, client, on_result), bufnr or 0)
end

--- Runs `workspace/executeCommand` `command` on the acdp server.
function M.execute(feature, command, arguments, on_result, bufnr)
  local params = { command = command }
  if arguments and #arguments > 0 then
    params.arguments = arguments
  end
  M.request(feature, 'workspace/executeCommand', params, on_result, bufnr, 'the command ' .. command)
end

local function position_params(client)
  return vim.lsp.util.make_position_params(0, client.offset_encoding)
end

--- Opens a scratch buffer named `name` in a split with `lines`; returns the buffer.
local function show_scratch(name, lines, filetype)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, name)
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = filetype or 'markdown'
  if vim.fn.bufwinid(buf) == -1 then
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, buf)
  end
  return buf
end

local function chunk_lines(chunk)
  local range = chunk.range
  local lines = {
    string.format('**%s** `%s`', chunk.kind, chunk.symbol),
    '',
    string.format('chunk_id `%s` · lines %d-%d · `%s`', chunk.chunk_id, range.start.line + 1, range['end'].line + 1, chunk.content_hash),
    '',
    '```java',
  }
  vim.list_extend(lines, vim.split(chunk.text or '', '\n', { plain = true }))
  table.insert(lines, '```')
  return lines
end

--- Shows a chunk (the `acdp/chunk` object) in a floating window.
function M.show_chunk(chunk)
  if chunk == vim.NIL or chunk == nil then
    notify('no chunk here (outside every method, type header or mapper statement)', vim.log.levels.WARN)
    return
  end
  M.state.last_chunk = chunk
  vim.lsp.util.open_floating_preview(chunk_lines(chunk), 'markdown', {
    border = 'rounded',
    title = ' acdp chunk ',
    focus_id = 'acdp-chunk',
    max_width = 100,
    max_height = 30,
  })
end

--- `:AcdpChunk`: the chunk under the cursor (`acdp/chunk`).
function M.chunk()
  local client = M.client()
  if not client then
    notify('Show chunk: the acdp language server is not running', vim.log.levels.ERROR)
    return
  end
  local pos = position_params(client)
  M.request('Show chunk', 'acdp/chunk', { uri = pos.textDocument.uri, position = pos.position }, function(result)
    M.show_chunk(result)
  end)
end

--- Shows an `acdp/ask` answer: the text in a scratch buffer, citations in the quickfix list
--- (each opens the cited file at the cited range).
function M.show_answer(question, result, client)
  M.state.last_answer = result
  local lines = { '# ' .. question, '' }
  vim.list_extend(lines, vim.split(result.answer or '', '\n', { plain = true }))
  table.insert(lines, '')
  table.insert(lines, result.validated and '_citations checked against the current code_' or '_citations NOT validated_')
  table.insert(lines, '')
  local locations = {}
  for i, citation in ipairs(result.citations or {}) do
    table.insert(lines, string.format('[%d] `%s` %s:%d', i, citation.chunk_id, vim.uri_to_fname(citation.uri), citation.range.start.line + 1))
    table.insert(locations, { uri = citation.uri, range = citation.range })
  end
  show_scratch('acdp://answer', lines, 'markdown')
  local items = vim.lsp.util.locations_to_items(locations, client.offset_encoding)
  for i, item in ipairs(items) do
    item.text = string.format('[%d] %s', i, result.citations[i].chunk_id)
  end
  vim.fn.setqflist({}, ' ', { title = 'acdp: ' .. question, items = items })
  if #items > 0 then
    vim.cmd('copen')
  end
end

--- Sends `text` to `acdp/ask` for `task` (`question` or `design`), prompting when empty.
local function ask_task(feature, task, prompt, text)
  local function send(q)
    if not q or vim.trim(q) == '' then
      return
    end
    M.request(feature, 'acdp/ask', { question = q, task = task }, function(result, client)
      M.show_answer(q, result, client)
    end)
  end
  if text and vim.trim(text) ~= '' then
    send(text)
  else
    vim.ui.input({ prompt = prompt }, send)
  end
end

--- `:AcdpAsk [question]`: asks the repository (`acdp/ask`); prompts when no question.
function M.ask(question)
  ask_task('Ask', 'question', 'Ask the repository: ', question)
end

--- `:AcdpDesign [requirement]`: a design for the requirement (`acdp/ask` with task design),
--- checked against the repository; prompts when no requirement.
function M.design(requirement)
  ask_task('Design', 'design', 'Requirement: ', requirement)
end

--- `:AcdpEval [file]`: scores retrieval on the held-out questions of the workspace dataset
--- (`acdp.eval`, default `.acdp/dataset/eval.jsonl`) and shows the report.
function M.eval(file)
  local args = {}
  if file and file ~= '' then
    args = { { cases = vim.fn.fnamemodify(file, ':p') } }
  end
  M.execute('Evaluate', 'acdp.eval', args, function(result)
    M.state.last_eval = result
    show_scratch('acdp://eval', vim.split(result.markdown or '', '\n', { plain = true }), 'markdown')
  end)
end

--- `:AcdpSamples [filter words]`: the samples of `.acdp/samples.jsonl` (`acdp/samples`) in
--- the quickfix list, for review; a bare word is a symbol (samples citing it or its
--- members). See `acdp.review`.
function M.samples(words)
  return require('acdp.review').samples(words)
end

local function summary(result)
  if result == nil or result == vim.NIL then
    return 'done'
  end
  if type(result) == 'table' then
    return vim.json.encode(result)
  end
  return tostring(result)
end

--- `:AcdpExport [dir]`: exports the workspace dataset (`acdp.exportDataset`).
function M.export(out)
  local args = {}
  if out and out ~= '' then
    args = { { out = vim.fn.fnamemodify(out, ':p') } }
  end
  M.execute('Export dataset', 'acdp.exportDataset', args, function(result)
    notify('dataset exported: ' .. summary(result))
  end)
end

--- `acdp.train`'s argument from `:AcdpTrain` words: `key=value` (numbers and true/false
--- converted) or a bare `key` (true), e.g. `epochs=3 accum=1 resume`.
function M.train_argument(words)
  local argument = {}
  for _, word in ipairs(type(words) == 'table' and words or vim.split(words or '', '%s+', { trimempty = true })) do
    local key, value = word:match('^([%w_]+)=(.*)$')
    if not key then
      argument[word] = true
    elseif value == 'true' or value == 'false' then
      argument[key] = value == 'true'
    else
      argument[key] = tonumber(value) or value
    end
  end
  return argument
end

local function loss_text(loss)
  return type(loss) == 'number' and string.format('%.4f', loss) or '-'
end

--- `:AcdpTrain [key=value ...]`: trains the adapter in the background (`acdp.train`, options
--- as `acdp train`'s: epochs, accum, lr, out, resume, ...). Progress shows per step ("step
--- i/n, loss x"); `:AcdpTrainCancel` stops it. At the end: steps, loss and the loss plot
--- (`<adapter_dir>/loss.svg`), opened with `vim.ui.open` when `setup({ open_loss_plot = true })`.
function M.train(words)
  local argument = M.train_argument(words)
  M.execute('Train', 'acdp.train', next(argument) and { argument } or {}, function(result)
    M.state.last_train = result
    if type(result) ~= 'table' or not result.adapter_dir then
      notify('training: ' .. summary(result))
      return
    end
    local plot = vim.fs.joinpath(result.adapter_dir, 'loss.svg')
    if result.cancelled then
      notify(string.format('training cancelled after step %d (loss %s); checkpoint in %s; continue with :AcdpTrain resume; loss plot %s',
        result.steps, loss_text(result.last_loss), vim.fs.joinpath(result.adapter_dir, string.format('checkpoint-%06d', result.steps)), plot))
    else
      notify(string.format('trained %d steps, loss %s -> %s; adapter in %s; loss plot %s',
        result.steps, loss_text(result.first_loss), loss_text(result.last_loss), result.adapter_dir, plot))
    end
    if M.options.open_loss_plot and vim.uv.fs_stat(plot) then
      vim.ui.open(plot)
    end
    vim.api.nvim_exec_autocmds('User', { pattern = 'AcdpTrained', data = result })
  end)
end

--- The progress token of the training run going on (its begin report is titled
--- "acdp: training"), else nil.
function M.training_token()
  for token, entry in pairs(M.state.progress) do
    if entry.title == 'acdp: training' then
      return token
    end
  end
end

--- `:AcdpTrainCancel`: `window/workDoneProgress/cancel` on the training run's token; the
--- server stops after the current step and checkpoints it (`:AcdpTrain resume` goes on).
function M.train_cancel()
  local token, client = M.training_token(), M.client()
  if not token or not client then
    notify('no training run is going', vim.log.levels.WARN)
    return false
  end
  client:notify('window/workDoneProgress/cancel', { token = token })
  notify('cancelling training (' .. token .. ') after the current step')
  return true
end

--- `:AcdpReindex`: indexes the workspace folders again (`acdp.reindex`).
function M.reindex()
  M.execute('Reindex', 'acdp.reindex', {}, function(result)
    if type(result) == 'table' and result.files then
      notify(string.format('reindexed %d file(s), %d chunk(s) in %d folder(s)', result.files, result.chunks, result.folders))
      for _, problem in ipairs(result.errors or {}) do
        notify(tostring(problem), vim.log.levels.WARN)
      end
    else
      notify('reindexed: ' .. summary(result))
    end
  end)
end

--- `$/progress`: Neovim's own handler (LspProgress, `vim.lsp.status()`), then acdp's state.
function M.on_progress(err, result, ctx, config)
  vim.lsp.handlers['$/progress'](err, result, ctx, config)
  if not result or type(result.value) ~= 'table' then
    return
  end
  local token, value = tostring(result.token), result.value
  if value.kind == 'begin' then
    M.state.progress[token] = { title = value.title, message = value.message, percentage = value.percentage }
  elseif value.kind == 'report' then
    local entry = M.state.progress[token] or {}
    entry.message = value.message or entry.message
    entry.percentage = value.percentage or entry.percentage
    M.state.progress[token] = entry
  elseif value.kind == 'end' then
    M.state.progress[token] = nil
    if token:find('^acdp/index/') then
      M.state.indexed = M.state.indexed + 1
      M.state.last_index_message = value.message
      vim.api.nvim_exec_autocmds('User', { pattern = 'AcdpIndexed', data = { message = value.message } })
    end
  end
  vim.cmd('redrawstatus')
end

--- `acdp/chunksChanged`: remembered and re-emitted as `User AcdpChunksChanged`.
function M.on_chunks_changed(_, params)
  M.state.last_chunks_changed = params
  vim.api.nvim_exec_autocmds('User', { pattern = 'AcdpChunksChanged', data = params })
end

--- For 'statusline': "acdp 40% indexing …" while a run is going, "acdp ✓" once indexed.
function M.statusline()
  for _, entry in pairs(M.state.progress) do
    return string.format('acdp %d%% %s', entry.percentage or 0, entry.message or entry.title or '')
  end
  if M.client() then
    return M.state.indexed > 0 and 'acdp ✓' or 'acdp …'
  end
  return ''
end

--- Client-side handler of `acdp.showChunk` (the "Show chunk for …" code action): runs the
--- command on the server and shows its answer, which the default UI would drop.
local function show_chunk_command(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  client:request('workspace/executeCommand', { command = command.command, arguments = command.arguments }, function(err, result)
    if err then
      notify('Show chunk failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    M.show_chunk(result)
  end, ctx.bufnr)
end

--- Configures and enables the server. `opts.server_path` is the `acdp` binary;
--- `opts.settings` the acdp settings (see `M.defaults`); any other key of `opts.lsp` is
--- passed to `vim.lsp.config` as is.
function M.setup(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  vim.lsp.commands['acdp.showChunk'] = show_chunk_command
  local config = vim.tbl_deep_extend('force', {
    cmd = { M.options.server_path, 'lsp' },
    init_options = M.options.settings,
    settings = { acdp = M.options.settings },
  }, M.options.lsp or {})
  vim.lsp.config('acdp', config)
  vim.lsp.enable('acdp')
end

return M
