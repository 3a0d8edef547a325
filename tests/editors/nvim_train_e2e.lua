-- End-to-end test of training from Neovim: :AcdpTrain and :AcdpTrainCancel in real headless
-- Neovim against the real `acdp lsp` with a tiny random Qwen2 model. Run by nvim_e2e.sh, which
-- sets:
--   ACDP_WORKSPACE  a temp copy of fixtures/shop, with the tiny dataset in .acdp/dataset
--   ACDP_MODEL_DIR  the tiny model (tests/editors/tiny_model.py model DIR)
-- Prints one line per case and "N passed, N failed"; exits non-zero on any failure.
local H = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local acdp = require('acdp')
local workspace = assert(os.getenv('ACDP_WORKSPACE'))
local model_dir = assert(os.getenv('ACDP_MODEL_DIR'))
local SERVICE = 'src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java'
local WAIT_MS = 60000
local SAMPLES = 5 -- training samples tiny_model.py writes

local out = H.out

-- The tiny model as modelDir; the rest as minimal_init.lua set it up (before any buffer
-- starts the server).
local options = vim.deepcopy(acdp.options)
options.settings.modelDir = model_dir
options.settings.adapter = ''
acdp.setup(options)

-- Every vim.notify message, and every vim.ui.open (nothing is opened in a headless test).
local messages, opened = H.messages, {}
vim.ui.open = function(path)
  table.insert(opened, path)
end

local wait_for = H.wait_for

local wait_message = H.wait_message

local function is_file(path)
  local stat = vim.uv.fs_stat(path)
  return stat ~= nil and stat.type == 'file'
end

--- Runs `:AcdpTrain args` and waits for its result (acdp.state.last_train).
local function train(args)
  acdp.state.last_train = nil
  acdp.state.outcomes.Train = nil
  vim.cmd('AcdpTrain ' .. args)
  wait_for(':AcdpTrain to answer', function() return acdp.state.outcomes.Train ~= nil end)
  local outcome = acdp.state.outcomes.Train
  assert(outcome.status == 'ok', ':AcdpTrain failed: ' .. tostring(outcome.message))
  return assert(acdp.state.last_train, 'no result')
end

local CASES = {}

CASES[#CASES + 1] = { 'attaches with the tiny model and finishes indexing', function()
  vim.cmd.edit(workspace .. '/' .. SERVICE)
  wait_for('acdp to attach', function() return acdp.client(0) ~= nil end)
  wait_for('the first index run to end', function() return acdp.state.indexed >= 1 end)
  local commands = vim.api.nvim_get_commands({})
  assert(commands.AcdpTrain and commands.AcdpTrainCancel, 'AcdpTrain / AcdpTrainCancel not defined')
end }

CASES[#CASES + 1] = { ':AcdpTrainCancel with no run going warns', function()
  local from = #messages
  assert(acdp.train_cancel() == false, 'cancelled something')
  local told = wait_message('no training run is going', from)
  assert(told.level == vim.log.levels.WARN, told.msg)
end }

CASES[#CASES + 1] = { ':AcdpTrain runs to the end: steps, loss and the loss plot, not opened', function()
  local from = #messages
  local result = train('epochs=2 accum=1 lr=0.01 warmup=1')
  assert(result.cancelled == false, vim.inspect(result))
  assert(result.steps == 2 * SAMPLES, vim.inspect(result))
  local adapter = workspace .. '/.acdp/adapter'
  assert(result.adapter_dir == adapter, result.adapter_dir)
  assert(result.last_loss < result.first_loss, 'loss did not fall: ' .. vim.inspect(result))
  assert(is_file(adapter .. '/adapter_model.safetensors'), 'no adapter')
  local plot = adapter .. '/loss.svg'
  assert(is_file(plot), 'no ' .. plot)
  local told = wait_message('^acdp: trained ', from)
  local want = string.format('acdp: trained %d steps, loss %.4f -> %.4f; adapter in %s; loss plot %s',
    result.steps, result.first_loss, result.last_loss, adapter, plot)
  assert(told.msg == want, told.msg .. '\n~=\n' .. want)
  assert(#opened == 0, 'opened without open_loss_plot: ' .. vim.inspect(opened))
  assert(acdp.training_token() == nil, 'training progress still shown')
end }

CASES[#CASES + 1] = { ':AcdpTrainCancel stops the run after the step, checkpointed; the plot opens when asked', function()
  acdp.options.open_loss_plot = true
  local from = #messages
  local epochs = 4000
  acdp.state.last_train = nil
  acdp.state.outcomes.Train = nil
  vim.cmd(string.format('AcdpTrain out=adapter-long epochs=%d accum=1 lr=0.01 warmup=1 checkpoint_every=0', epochs))
  -- The progress (begin titled "acdp: training") and its first "step i/n, loss x" report.
  local token, first
  wait_for('the first step report', function()
    token = acdp.training_token()
    local entry = token and acdp.state.progress[token]
    first = entry and entry.message and entry.message:match('^step %d+/%d+, loss %d+%.%d+$') and entry.message
    return first ~= nil
  end)
  assert(token:find('^acdp/train/%d+$'), token)
  assert(first:find('/' .. epochs * SAMPLES .. ', loss', 1, true), first)
  vim.cmd('AcdpTrainCancel')
  wait_message('cancelling training %(' .. vim.pesc(token) .. '%)', from)
  wait_for(':AcdpTrain to answer', function() return acdp.state.outcomes.Train ~= nil end)
  assert(acdp.state.outcomes.Train.status == 'ok', vim.inspect(acdp.state.outcomes.Train))
  local result = assert(acdp.state.last_train)
  assert(result.cancelled == true, vim.inspect(result))
  assert(result.steps >= 1 and result.steps < epochs * SAMPLES / 10, 'did not stop: ' .. result.steps .. ' steps')
  local dir = workspace .. '/adapter-long'
  assert(result.adapter_dir == dir, result.adapter_dir)
  local checkpoint = string.format('%s/checkpoint-%06d', dir, result.steps)
  assert(is_file(checkpoint .. '/trainer_state.json'), 'no checkpoint ' .. checkpoint)
  assert(is_file(checkpoint .. '/adapter_model.safetensors'), 'no adapter in ' .. checkpoint)
  assert(not is_file(dir .. '/adapter_model.safetensors'), 'a cancelled run wrote the final adapter')
  local plot = dir .. '/loss.svg'
  assert(is_file(plot), 'no ' .. plot)
  local told = wait_message('^acdp: training cancelled', from)
  local want = string.format('acdp: training cancelled after step %d (loss %.4f); checkpoint in %s; continue with :AcdpTrain resume; loss plot %s',
    result.steps, result.last_loss, checkpoint, plot)
  assert(told.msg == want, told.msg .. '\n~=\n' .. want)
  assert(vim.deep_equal(opened, { plot }), 'opened: ' .. vim.inspect(opened))
  wait_for('the training progress to end', function() return acdp.training_token() == nil end)
  out(string.format('     cancelled after step %d of %d', result.steps, epochs * SAMPLES))
  acdp.options.open_loss_plot = nil
end }

H.run('nvim train e2e', CASES)
