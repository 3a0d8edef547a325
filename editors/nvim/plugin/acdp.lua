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

vim.api.nvim_create_user_command('AcdpSamples', function(a)
  acdp().samples(a.args)
end, { nargs = '?', desc = 'acdp: show the samples of the workspace dataset (acdp/samples) [citing SYMBOL]' })

vim.api.nvim_create_user_command('AcdpReindex', function()
  acdp().reindex()
end, { nargs = 0, desc = 'acdp: index the workspace folders again (acdp.reindex)' })

vim.api.nvim_create_user_command('AcdpChunk', function()
  acdp().chunk()
end, { nargs = 0, desc = 'acdp: show the chunk under the cursor (acdp/chunk)' })
