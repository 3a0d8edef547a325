-- User commands of acdp. They talk to the `acdp` language server attached to the current
-- buffer; `require('acdp').setup()` starts it.
if vim.g.loaded_acdp then
  return
end
vim.g.loaded_acdp = true

local function acdp()
  return require('acdp')
end

vim.api.nvim_create_user_command('AcdpAsk', function(a)
  acdp().ask(a.args)
end, { nargs = '*', desc = 'acdp: ask the repository (acdp/ask); citations go to the quickfix list' })

vim.api.nvim_create_user_command('AcdpDesign', function(a)
  acdp().design(a.args)
end, { nargs = '*', desc = 'acdp: propose a design for a requirement (acdp/ask, task design), checked against the code' })

vim.api.nvim_create_user_command('AcdpEval', function(a)
  acdp().eval(a.args)
end, { nargs = '?', complete = 'file', desc = 'acdp: score retrieval on held-out questions (acdp.eval) [FILE]' })

vim.api.nvim_create_user_command('AcdpExport', function(a)
  acdp().export(a.args)
end, { nargs = '?', complete = 'dir', desc = 'acdp: export the workspace dataset (acdp.exportDataset) [to DIR]' })

vim.api.nvim_create_user_command('AcdpTrain', function(a)
  acdp().train(a.fargs)
end, { nargs = '*', desc = 'acdp: train the adapter on the workspace dataset (acdp.train) [epochs=N accum=N lr=X out=DIR resume ...]' })

vim.api.nvim_create_user_command('AcdpTrainCancel', function()
  acdp().train_cancel()
end, { nargs = 0, desc = 'acdp: stop the training run after its current step, checkpointed (window/workDoneProgress/cancel)' })

local function review()
  return require('acdp.review')
end

vim.api.nvim_create_user_command('AcdpSamples', function(a)
  acdp().samples(a.fargs)
end, {
  nargs = '*',
  complete = function(lead)
    return review().complete_filter(lead)
  end,
  desc = 'acdp: the editor samples in the quickfix list (acdp/samples) [review=STATE stale task=qa|design language=en|zh chunk=ID SYMBOL]',
})

local function complete_ids(lead)
  return review().complete_ids(lead)
end

for _, c in ipairs({
  { 'AcdpSample', 'show', 'show a sample in a float (a accept, r reject, e edit, g regenerate, <CR> open evidence, q close) [ID]' },
  { 'AcdpAccept', 'accept', 'accept a sample: the export uses it (acdp.reviewSample) [ID]' },
  { 'AcdpReject', 'reject', 'reject a sample: the export leaves it out (acdp.reviewSample) [ID]' },
  { 'AcdpEdit', 'edit', 'edit a sample in .acdp/review/ID.json; :write checks and keeps it (acdp.editSample) [ID]' },
  { 'AcdpRegenerate', 'regenerate', 'generate a sample again from the code as it is now (acdp.regenerateSample) [ID]' },
}) do
  local name, fn, desc = c[1], c[2], c[3]
  vim.api.nvim_create_user_command(name, function(a)
    review()[fn](a.args)
  end, { nargs = '?', complete = complete_ids, desc = 'acdp: ' .. desc })
end

-- An edit file opened by hand (after a restart, from the file explorer) reaches the server
-- like one :AcdpEdit opened: its diagnostics show and :write records it.
vim.api.nvim_create_autocmd('BufReadPost', {
  group = vim.api.nvim_create_augroup('acdp_review', { clear = true }),
  pattern = '*/.acdp/review/*.json',
  callback = function(ev)
    review().attach(ev.buf)
  end,
})

vim.api.nvim_create_user_command('AcdpReindex', function()
  acdp().reindex()
end, { nargs = 0, desc = 'acdp: index the workspace folders again (acdp.reindex)' })

vim.api.nvim_create_user_command('AcdpChunk', function()
  acdp().chunk()
end, { nargs = 0, desc = 'acdp: show the chunk under the cursor (acdp/chunk)' })
