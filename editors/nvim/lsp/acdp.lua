-- The acdp language server (`acdp lsp`) for Neovim 0.11+ (`vim.lsp.enable('acdp')`), in the
-- layout nvim-lspconfig uses. `require('acdp').setup()` adds the binary path and settings.
return {
  cmd = { 'acdp', 'lsp' },
  filetypes = { 'java', 'xml' },
  root_markers = { 'acdp.toml', '.git', 'pom.xml', 'build.gradle', 'build.gradle.kts' },
  init_options = {},
  handlers = {
    ['$/progress'] = function(...)
      return require('acdp').on_progress(...)
    end,
    ['acdp/chunksChanged'] = function(...)
      return require('acdp').on_chunks_changed(...)
    end,
    ['window/showMessage'] = function(...)
      return require('acdp.review').on_show_message(...)
    end,
  },
}
