-- clawbake: the Docker API as OpenClaw's gateway may use it.
--
-- The gateway is the part of the stack an attacker is assumed to control
-- (prompt injection -> tool execution). It runs sandboxes through the
-- `docker` CLI, and every request it sends passes through this policy in
-- HAProxy before it reaches the Docker socket. What passes is the sandbox
-- lifecycle and nothing else:
--
--   HEAD|GET /_ping
--   POST   /containers/create?name=SANDBOX   (the body is checked, below)
--   GET    /containers/SANDBOX/json | /logs
--   POST   /containers/SANDBOX/start | /exec
--   DELETE /containers/SANDBOX
--   POST   /exec/ID/start (the stream is upgraded), GET /exec/ID/json
--   GET    /images/IMAGE/json                 (the site's sandbox image)
--
-- each with or without a `/v1.N` prefix. SANDBOX is the name of one of the
-- site's sandboxes (OpenClaw's prefix and slug), whose only bind is its own
-- workspace; IMAGE is the site's sandbox image. Every other request is
-- refused with 403 and a line that says why.
--
-- A create is read the way the daemon reads it (Go's encoding/json): a
-- struct's field names match case-insensitively, a map's keys exactly (a
-- network named `None` is not `none`), escapes are decoded, the last
-- duplicate would win. So this decoder decodes escapes, refuses duplicate
-- keys (even when they differ only in case) and keys outside ASCII (Go
-- folds U+017F to `s` and U+212A to `k`), and keeps each key both folded,
-- for fields, and exact, for maps. A field this policy does not know must
-- hold its zero value.
--
-- The settings come from a JSON file rendered from the site
-- (CLAWBAKE_DOCKER_POLICY names it); this file is the same for every site.

local policy = {}

-- JSON ----------------------------------------------------------------------

local NULL = setmetatable({}, { __tostring = function() return "null" end })
local OBJECT, ARRAY = {}, {}

local function kind(v)
  if v == NULL then return "null" end
  local t = type(v)
  if t ~= "table" then return t end
  local m = getmetatable(v)
  if m == OBJECT then return "object" end
  if m == ARRAY then return "array" end
  return "table"
end

-- Decode `s`; returns the value, or nil and why not. Objects keep their keys
-- folded to lower case (`obj.fields[lower] = value`), arrays are sequences.
local function decode(s)
  local pos = 1
  local depth = 0
  local function fail(why)
    error({ json = true, why = why .. " at byte " .. pos }, 0)
  end
  local function ws()
    pos = s:find("[^ \t\r\n]", pos) or #s + 1
  end
  local value
  local function str()
    -- at the opening quote
    pos = pos + 1
    local out = {}
    while true do
      local c = s:byte(pos)
      if c == nil then fail("unterminated string") end
      if c == 34 then pos = pos + 1; break end
      if c < 32 then fail("control character in a string") end
      if c == 92 then
        local e = s:sub(pos + 1, pos + 1)
        local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b",
                          f = "\f", n = "\n", r = "\r", t = "\t" })[e]
        if simple then
          out[#out + 1] = simple
          pos = pos + 2
        elseif e == "u" then
          local hex = s:sub(pos + 2, pos + 5)
          if not hex:match("^%x%x%x%x$") then fail("bad \\u escape") end
          local cp = tonumber(hex, 16)
          pos = pos + 6
          if cp >= 0xD800 and cp <= 0xDBFF then
            local lo = s:sub(pos, pos + 5):match("^\\u(%x%x%x%x)$")
            local low = lo and tonumber(lo, 16)
            if low and low >= 0xDC00 and low <= 0xDFFF then
              cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00)
              pos = pos + 6
            else
              cp = 0xFFFD
            end
          elseif cp >= 0xDC00 and cp <= 0xDFFF then
            cp = 0xFFFD
          end
          out[#out + 1] = utf8.char(cp)
        else
          fail("bad escape")
        end
      else
        local run = s:match('^[^"\\\0-\31]+', pos)
        out[#out + 1] = run
        pos = pos + #run
      end
    end
    return table.concat(out)
  end
  local function object()
    pos = pos + 1
    local obj = setmetatable({ fields = {}, names = {}, exact = {}, keys = {} }, OBJECT)
    ws()
    if s:byte(pos) == 125 then pos = pos + 1; return obj end
    while true do
      ws()
      if s:byte(pos) ~= 34 then fail("expected a key") end
      local key = str()
      if key:find("[\128-\255]") then fail("a key outside ASCII") end
      local folded = key:lower()
      if obj.fields[folded] ~= nil then fail("duplicate key `" .. key .. "`") end
      ws()
      if s:byte(pos) ~= 58 then fail("expected `:`") end
      pos = pos + 1
      local v = value()
      obj.fields[folded] = v
      obj.names[#obj.names + 1] = folded
      obj.exact[key] = v
      obj.keys[#obj.keys + 1] = key
      ws()
      local c = s:byte(pos)
      pos = pos + 1
      if c == 125 then return obj end
      if c ~= 44 then fail("expected `,` or `}`") end
    end
  end
  local function array()
    pos = pos + 1
    local arr = setmetatable({}, ARRAY)
    ws()
    if s:byte(pos) == 93 then pos = pos + 1; return arr end
    while true do
      arr[#arr + 1] = value()
      ws()
      local c = s:byte(pos)
      pos = pos + 1
      if c == 93 then return arr end
      if c ~= 44 then fail("expected `,` or `]`") end
    end
  end
  function value()
    depth = depth + 1
    if depth > 64 then fail("nested too deep") end
    ws()
    local c = s:sub(pos, pos)
    local v
    if c == "{" then v = object()
    elseif c == "[" then v = array()
    elseif c == '"' then v = str()
    elseif s:sub(pos, pos + 3) == "true" then pos = pos + 4; v = true
    elseif s:sub(pos, pos + 4) == "false" then pos = pos + 5; v = false
    elseif s:sub(pos, pos + 3) == "null" then pos = pos + 4; v = NULL
    else
      local start = pos
      local function digits(from)
        local stop = s:find("[^0-9]", from) or #s + 1
        if stop == from then fail("unexpected `" .. s:sub(from, from) .. "`") end
        return stop
      end
      if s:sub(pos, pos) == "-" then pos = pos + 1 end
      if s:sub(pos, pos) == "0" then pos = pos + 1 else pos = digits(pos) end
      if s:sub(pos, pos) == "." then pos = digits(pos + 1) end
      if s:sub(pos, pos):match("[eE]") then
        pos = pos + 1
        if s:sub(pos, pos):match("[-+]") then pos = pos + 1 end
        pos = digits(pos)
      end
      v = tonumber(s:sub(start, pos - 1))
      if v == nil then fail("bad number") end
    end
    depth = depth - 1
    return v
  end
  local ok, result = pcall(function()
    local v = value()
    ws()
    if pos <= #s then fail("trailing bytes") end
    return v
  end)
  if ok then return result end
  if type(result) == "table" and result.json then return nil, result.why end
  error(result, 0)
end
policy.decode = decode

-- The zero value of any JSON type: what Docker's decoder would leave as if
-- the field were absent.
local function is_zero(v)
  local k = kind(v)
  if k == "null" then return true end
  if k == "boolean" then return v == false end
  if k == "number" then return v == 0 end
  if k == "string" then return v == "" end
  if k == "array" then return #v == 0 end
  if k == "object" then return #v.names == 0 end
  return false
end

-- Settings ------------------------------------------------------------------

local settings

function policy.configure(text)
  local s, why = decode(text)
  if not s then error("the policy settings are not JSON: " .. why, 0) end
  local f = s.fields
  local function list(v)
    local out = {}
    for _, x in ipairs(v) do out[x] = true end
    return out
  end
  settings = {
    prefix = f.name_prefix,
    dir = f.sandbox_dir,
    workdir = f.workdir,
    images = list(f.images),
    slugs = list(f.slugs),
    user = f.user,
    memory = f.memory_bytes,
    nano_cpus = f.nano_cpus,
    pids = f.pids_limit,
  }
end

-- Requests ------------------------------------------------------------------

-- A sandbox of this site: the prefix and one of the slugs whose workspace
-- the host made.
local function sandbox_name(name)
  if not name or name:sub(1, #settings.prefix) ~= settings.prefix then return false end
  return settings.slugs[name:sub(#settings.prefix + 1)] == true
end

local function pct_decode(s)
  if s:gsub("%%%x%x", ""):find("%%") then return nil end
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The query as a table; nil when it repeats a key, holds `;`, or a key the
-- route does not take.
local function query_of(q, allowed)
  local out = {}
  if q == nil or q == "" then return out end
  if q:find(";") then return nil, "`;` in the query" end
  for pair in (q .. "&"):gmatch("([^&]*)&") do
    if pair ~= "" then
      local k, v = pair:match("^([^=]*)=?(.*)$")
      k, v = pct_decode(k), pct_decode((v:gsub("%+", " ")))
      if not k or not v then return nil, "a bad escape in the query" end
      if out[k] ~= nil then return nil, "`" .. k .. "` twice in the query" end
      if not allowed[k] then return nil, "the query parameter `" .. k .. "`" end
      out[k] = v
    end
  end
  return out
end

local function bool_param(v)
  return v == nil or v == "" or v == "0" or v == "1" or v == "true" or v == "false"
end

-- What a create may hold beyond zero values, by field (lower case): a check
-- that returns nil when the value is fine, or why not.
local function str_array(v)
  if kind(v) ~= "array" then return false end
  for _, x in ipairs(v) do if type(x) ~= "string" then return false end end
  return true
end

local function bind_ok(bind, slug)
  local src, dst, mode = bind:match("^([^:]+):([^:]+):?([^:]*)$")
  if not src then return false end
  if src ~= settings.dir .. "/" .. slug then return false end
  if dst ~= settings.workdir then return false end
  return mode == "" or mode == "ro" or mode == "rw"
end

local TMPFS = { ["/tmp"] = true, ["/var/tmp"] = true, ["/run"] = true }

local config_rules = {
  image = function(v) if not settings.images[v] then return "the image `" .. tostring(v) .. "`" end end,
  cmd = function(v) if not str_array(v) and not is_zero(v) then return "`Cmd`" end end,
  env = function(v) if not str_array(v) and not is_zero(v) then return "`Env`" end end,
  workingdir = function(v) if type(v) ~= "string" then return "`WorkingDir`" end end,
  hostname = function(v) if type(v) ~= "string" then return "`Hostname`" end end,
  user = function(v)
    if v ~= settings.user then return "the user `" .. tostring(v) .. "`" end
  end,
  -- OpenClaw's own labels only: a sandbox may not pass for a Compose
  -- service of the stack.
  labels = function(v)
    if kind(v) ~= "object" then return "`Labels`" end
    for _, key in ipairs(v.keys) do
      if type(v.exact[key]) ~= "string" or not key:find("^openclaw%.[%w.]+$") then
        return "the label `" .. key .. "`"
      end
    end
  end,
  attachstdin = "bool", attachstdout = "bool", attachstderr = "bool",
  tty = "bool", openstdin = "bool", stdinonce = "bool",
}

local host_rules = {
  -- required values are checked after the loop
  networkmode = function(v) if v ~= "none" then return "the network `" .. tostring(v) .. "`" end end,
  readonlyrootfs = "bool",
  capdrop = function(v) if not str_array(v) then return "`CapDrop`" end end,
  securityopt = function(v)
    if not str_array(v) then return "`SecurityOpt`" end
    for _, o in ipairs(v) do
      if o ~= "no-new-privileges" and o ~= "no-new-privileges:true"
          and o ~= "no-new-privileges=true" then
        return "the security option `" .. o .. "`"
      end
    end
  end,
  -- OpenClaw's scratch paths, with Docker's default options only.
  tmpfs = function(v)
    if kind(v) ~= "object" then return "`Tmpfs`" end
    for _, path in ipairs(v.keys) do
      if not TMPFS[path] or v.exact[path] ~= "" then return "the tmpfs `" .. path .. "`" end
    end
  end,
  -- each bind is checked against the sandbox's own workspace below
  binds = function(v) if not str_array(v) and v ~= NULL then return "`Binds`" end end,
  memory = "number", memoryswap = "number", nanocpus = "number", pidslimit = "number",
  memoryswappiness = function(v) if v ~= -1 and not is_zero(v) then return "`MemorySwappiness`" end end,
  consolesize = function(v) if kind(v) ~= "array" and not is_zero(v) then return "`ConsoleSize`" end end,
  shmsize = "number", autoremove = "bool", init = "bool",
  restartpolicy = function(v)
    if kind(v) ~= "object" then return "`RestartPolicy`" end
    local name = v.fields.name
    if name ~= nil and name ~= "" and name ~= "no" then return "the restart policy `" .. tostring(name) .. "`" end
  end,
  logconfig = function(v)
    if kind(v) ~= "object" then return "`LogConfig`" end
    for _, n in ipairs(v.names) do
      if not is_zero(v.fields[n]) then return "`LogConfig`" end
    end
  end,
  -- An empty list here unmasks /proc and /sys paths: only null or absent.
  maskedpaths = function(v) if v ~= NULL then return "`MaskedPaths`" end end,
  readonlypaths = function(v) if v ~= NULL then return "`ReadonlyPaths`" end end,
}

local function check_fields(obj, rules, where)
  for _, name in ipairs(obj.names) do
    local v = obj.fields[name]
    local rule = rules[name]
    if rule == "bool" then
      if type(v) ~= "boolean" and v ~= NULL then return where .. " `" .. name .. "` is not a boolean" end
    elseif rule == "number" then
      if type(v) ~= "number" and v ~= NULL then return where .. " `" .. name .. "` is not a number" end
    elseif rule then
      local why = rule(v)
      if why then return why .. " is refused" end
    elseif not is_zero(v) then
      return where .. " `" .. name .. "` is refused"
    end
  end
end

local function check_create(q, body)
  local name = q.name
  if not sandbox_name(name) then
    return "only sandboxes may be created: a name that starts with `" .. settings.prefix .. "`"
  end
  if q.platform ~= nil and q.platform ~= "" then return "a platform is refused" end
  local doc, why = decode(body)
  if not doc then return "the body is not JSON Docker would read the same way: " .. why end
  if kind(doc) ~= "object" then return "the body is not an object" end
  local hostconfig, networking = doc.fields.hostconfig, doc.fields.networkingconfig
  local config = setmetatable({ fields = {}, names = {} }, OBJECT)
  for _, n in ipairs(doc.names) do
    if n ~= "hostconfig" and n ~= "networkingconfig" then
      config.fields[n] = doc.fields[n]
      config.names[#config.names + 1] = n
    end
  end
  why = check_fields(config, config_rules, "the field")
  if why then return why end
  if not settings.images[config.fields.image] then
    return "the image `" .. tostring(config.fields.image) .. "` is not a sandbox image"
  end
  if config.fields.user ~= settings.user then
    return "a sandbox runs as `" .. settings.user .. "`"
  end
  local labels = config.fields.labels
  if kind(labels) ~= "object" or labels.exact["openclaw.sandbox"] ~= "1" then
    return "a sandbox carries the label `openclaw.sandbox=1`"
  end
  if kind(hostconfig) ~= "object" then return "a sandbox needs a HostConfig" end
  why = check_fields(hostconfig, host_rules, "the host setting")
  if why then return why end
  local h = hostconfig.fields
  if h.networkmode ~= "none" then return "a sandbox runs with `--network none`" end
  if h.readonlyrootfs ~= true then return "a sandbox runs with `--read-only`" end
  local drops_all = false
  for _, c in ipairs(h.capdrop or {}) do
    if c:upper() == "ALL" then drops_all = true end
  end
  if not drops_all then return "a sandbox runs with `--cap-drop ALL`" end
  local nnp = false
  for _, o in ipairs(h.securityopt or {}) do
    if o:find("^no%-new%-privileges") then nnp = true end
  end
  if not nnp then return "a sandbox runs with `--security-opt no-new-privileges`" end
  if type(h.memory) ~= "number" or h.memory <= 0 or h.memory > settings.memory then
    return "a sandbox's memory is set and at most " .. settings.memory .. " bytes"
  end
  if h.memoryswap ~= h.memory then
    return "a sandbox's memory and swap together are its memory: no swap"
  end
  if type(h.nanocpus) ~= "number" or h.nanocpus <= 0 or h.nanocpus > settings.nano_cpus then
    return "a sandbox's CPUs are set and at most " .. settings.nano_cpus .. " nano-CPUs"
  end
  if type(h.pidslimit) ~= "number" or h.pidslimit <= 0 or h.pidslimit > settings.pids then
    return "a sandbox's process limit is set and at most " .. settings.pids
  end
  local slug = name:sub(#settings.prefix + 1)
  local binds = h.binds
  if binds ~= nil and binds ~= NULL then
    if not str_array(binds) then return "`Binds` is refused" end
    for _, b in ipairs(binds) do
      if not bind_ok(b, slug) then
        return "the bind `" .. b .. "`: only the sandbox's own directory under " .. settings.dir
      end
    end
  end
  -- EndpointsConfig is a map: its keys are network names, exact. Only
  -- `none`, with nothing set for it, or nothing at all.
  if networking ~= nil and networking ~= NULL then
    if kind(networking) ~= "object" then return "`NetworkingConfig` is refused" end
    for _, n in ipairs(networking.names) do
      local v = networking.fields[n]
      if n ~= "endpointsconfig" or kind(v) ~= "object" then
        if not is_zero(v) then return "`NetworkingConfig` is refused" end
      else
        for _, net in ipairs(v.keys) do
          local settings_of = v.exact[net]
          if net ~= "none" then return "the network `" .. net .. "` is refused" end
          if kind(settings_of) == "object" then
            for _, f in ipairs(settings_of.names) do
              if not is_zero(settings_of.fields[f]) then
                return "settings for the network `none` are refused"
              end
            end
          elseif not is_zero(settings_of) then
            return "settings for the network `none` are refused"
          end
        end
      end
    end
  end
end

local exec_rules = {
  attachstdin = "bool", attachstdout = "bool", attachstderr = "bool", tty = "bool",
  detachkeys = function(v) if type(v) ~= "string" then return "`DetachKeys`" end end,
  env = function(v) if not str_array(v) and not is_zero(v) then return "`Env`" end end,
  cmd = function(v) if not str_array(v) then return "`Cmd`" end end,
  workingdir = function(v) if type(v) ~= "string" then return "`WorkingDir`" end end,
  consolesize = function(v) if kind(v) ~= "array" and not is_zero(v) then return "`ConsoleSize`" end end,
  user = function(v)
    if v ~= "" and v ~= settings.user then return "the user `" .. tostring(v) .. "`" end
  end,
}

local function check_body(body, rules)
  local doc, why = decode(body)
  if not doc then return "the body is not JSON Docker would read the same way: " .. why end
  if kind(doc) ~= "object" then return "the body is not an object" end
  return check_fields(doc, rules, "the field")
end

local ID = "^[0-9a-f]+$"

-- The decision for one request: nil when it may pass, or why not.
function policy.check(method, path, query, headers, body)
  if not settings then return "the policy has no settings" end
  if path:find("[^A-Za-z0-9._:/@-]") or path:find("//") or path:find("%.%.")
      or path:sub(-1) == "/" then
    return "the path `" .. path .. "` is not one the Docker CLI sends"
  end
  if (headers["content-encoding"] or "") ~= "" then return "an encoded body is refused" end
  if (headers["transfer-encoding"] or "") ~= "" then return "a chunked body is refused" end
  local rest = path:match("^/v1%.%d%d?%d?(/.*)$") or path
  local parts = {}
  for p in rest:gmatch("[^/]+") do parts[#parts + 1] = p end
  local a, b, c = parts[1], parts[2], parts[3]
  local q, qwhy

  if rest == "/_ping" then
    if method == "GET" or method == "HEAD" then return nil end
  elseif a == "containers" and b == "create" and #parts == 2 and method == "POST" then
    q, qwhy = query_of(query, { name = true, platform = true })
    if not q then return "refused: " .. qwhy end
    return check_create(q, body or "")
  elseif a == "containers" and #parts == 3 and sandbox_name(b) then
    if c == "json" and method == "GET" then
      q, qwhy = query_of(query, { size = true })
      if not q then return "refused: " .. qwhy end
      if bool_param(q.size) then return nil end
    elseif c == "logs" and method == "GET" then
      q, qwhy = query_of(query, { stdout = true, stderr = true, follow = true, tail = true,
                                  timestamps = true, since = true, ["until"] = true, details = true })
      if not q then return "refused: " .. qwhy end
      return nil
    elseif c == "start" and method == "POST" then
      q, qwhy = query_of(query, {})
      if not q then return "refused: " .. qwhy end
      if body == nil or body == "" then return nil end
      return "a start with a body is refused"
    elseif c == "exec" and method == "POST" then
      q, qwhy = query_of(query, {})
      if not q then return "refused: " .. qwhy end
      return check_body(body or "", exec_rules)
    end
  elseif a == "containers" and #parts == 2 and sandbox_name(b) and method == "DELETE" then
    q, qwhy = query_of(query, { force = true, v = true })
    if not q then return "refused: " .. qwhy end
    if bool_param(q.force) and bool_param(q.v) then return nil end
  elseif a == "exec" and #parts == 3 and #b == 64 and b:match(ID) then
    if c == "json" and method == "GET" then
      if (query or "") == "" then return nil end
    elseif c == "start" and method == "POST" then
      q, qwhy = query_of(query, {})
      if not q then return "refused: " .. qwhy end
      return check_body(body or "", {
        detach = "bool",
        tty = "bool",
        consolesize = function(v) if kind(v) ~= "array" and not is_zero(v) then return "`ConsoleSize`" end end,
      })
    end
  elseif a == "images" and method == "GET" and #parts >= 3 and parts[#parts] == "json" then
    local image = rest:match("^/images/(.+)/json$")
    if settings.images[image] and (query or "") == "" then return nil end
    return "only the sandbox images may be inspected"
  end
  return method .. " " .. rest .. " is not part of a sandbox's lifecycle"
end

-- HAProxy -------------------------------------------------------------------

if core then
  local file = assert(io.open(assert(os.getenv("CLAWBAKE_DOCKER_POLICY"),
    "CLAWBAKE_DOCKER_POLICY is not set"), "rb"))
  policy.configure(file:read("a"))
  file:close()

  core.register_action("docker_policy", { "http-req" }, function(txn)
    local headers = {}
    for name, values in pairs(txn.http:req_get_headers()) do
      headers[name:lower()] = values[0]
    end
    local length = tonumber(headers["content-length"] or "0") or -1
    local body = txn.f:req_body() or ""
    local why
    if length < 0 or #body ~= length then
      why = "the body is not whole (Content-Length " .. tostring(headers["content-length"]) .. ")"
    else
      why = policy.check(txn.f:method(), txn.f:path(), txn.f:query(), headers, body)
    end
    if why then
      txn:set_var("txn.refused", "clawbake docker policy: " .. why)
    else
      txn:set_var("txn.allowed", true)
    end
  end, 0)
end

return policy
