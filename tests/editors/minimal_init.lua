-- Minimal Neovim config for the end-to-end test: no user config, no plugins but
-- editors/nvim, no swap files; acdp's binary from $ACDP_BIN.
local repo = assert(os.getenv('ACDP_REPO'), 'set ACDP_REPO to the repository root')
vim.opt.runtimepath:prepend(repo .. '/editors/nvim')
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.opt.more = false
vim.opt.columns = 120
vim.opt.lines = 40
vim.opt.statusline = "%f %= %{v:lua.require'acdp'.statusline()} "
vim.opt.laststatus = 2
vim.cmd('runtime plugin/acdp.lua')

require('acdp').setup({
  server_path = assert(os.getenv('ACDP_BIN'), 'set ACDP_BIN to the acdp binary'),
  settings = { sampleLanguage = 'en' },
  lsp = { init_options = { logFile = os.getenv('ACDP_LOG') } },
})
