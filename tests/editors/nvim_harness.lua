-- What the headless Neovim end-to-end scripts share: output lines, every vim.notify message,
-- waiting with a limit, and running the cases (one line each, a summary, exit status).
-- Load it with `dofile(<this folder> .. '/nvim_harness.lua')`.
local H = {}

H.WAIT_MS = 60000

function H.out(line)
  io.stdout:write(line .. '\n')
end

-- Every vim.notify message (the plugin's and the server's window/showMessage), so cases can
-- assert what the user was told.
H.messages = {}
vim.notify = function(msg, level)
  table.insert(H.messages, { msg = msg, level = level or vim.log.levels.INFO })
end

function H.wait_for(what, predicate)
  assert(vim.wait(H.WAIT_MS, predicate, 20), 'timed out waiting for ' .. what)
end

--- The first message after the `from`-th that matches `pattern` (waits for it).
function H.wait_message(pattern, from)
  local found
  H.wait_for('a message matching ' .. pattern, function()
    for i = from + 1, #H.messages do
      if H.messages[i].msg:find(pattern) then
        found = H.messages[i]
        return true
      end
    end
    return false
  end)
  return found
end

--- Line (1-based) of the public method `name` in the current buffer, and the column of its
--- name; an error naming `file` when it is not there.
function H.locate(name, file)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
    local col = line:find(' ' .. name .. '%(')
    if col and line:find('public') then
      return i, col
    end
  end
  error('method ' .. name .. ' not found in ' .. file)
end

--- Runs `cases` ({name, fn} each) in order, prints `ok`/`FAIL` per case and
--- "<title>: N passed, N failed", stops the acdp clients and quits Neovim with the status.
function H.run(title, cases)
  local passed, failed = 0, 0
  for _, case in ipairs(cases) do
    local ok, err = xpcall(case[2], debug.traceback)
    if ok then
      passed = passed + 1
      H.out('ok   ' .. case[1])
    else
      failed = failed + 1
      H.out('FAIL ' .. case[1] .. '\n' .. tostring(err))
    end
  end
  H.out(string.format('%s: %d passed, %d failed', title, passed, failed))
  for _, c in ipairs(vim.lsp.get_clients({ name = 'acdp' })) do
    c:stop()
  end
  vim.wait(2000, function() return #vim.lsp.get_clients({ name = 'acdp' }) == 0 end, 20)
  vim.cmd(failed == 0 and 'qall!' or 'cquit 1')
end

return H
