"""Runs an Argo CD health script the way Argo CD does, on a real Lua interpreter (lupa).

Argo CD (``util/lua/lua.go``) runs a health script from ``argocd-cm`` in gopher-lua (Lua
5.1) with only the base, package, table and a "safe" os library open (no ``string`` or
``math``), the live object converted from its JSON into a global table ``obj`` (objects to
tables, arrays to 1-indexed tables, numbers to Lua numbers, null to nil), a one-second
deadline, and reads the returned table as ``{"status", "message"}``; a status outside
Healthy/Progressing/Suspended/Degraded/Missing/Unknown reads as Unknown. This module
reproduces that: Lua 5.1 from lupa, a sandbox with the base functions and ``table`` only,
and the same conversion both ways.
"""

from __future__ import annotations

import json
from typing import Any

import lupa.lua51 as lua51

__all__ = ["VALID_STATUSES", "run_health"]

VALID_STATUSES = frozenset(
    {"Healthy", "Progressing", "Suspended", "Degraded", "Missing", "Unknown"}
)

_SANDBOXED_RUN = """
function(script, obj)
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
    pcall = pcall, select = select, tonumber = tonumber, tostring = tostring,
    type = type, unpack = unpack, rawequal = rawequal, rawget = rawget,
    rawset = rawset, getmetatable = getmetatable, setmetatable = setmetatable,
    xpcall = xpcall, table = table, _VERSION = _VERSION,
  }
  env._G = env
  env.obj = obj
  local chunk, problem = loadstring(script, "=health.lua")
  if chunk == nil then error(problem) end
  setfenv(chunk, env)
  return chunk()
end
"""


def _to_lua(runtime: Any, value: Any) -> Any:
    """Argo CD's ``decodeValue``: JSON values to Lua values."""
    if isinstance(value, dict):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:
                table[key] = _to_lua(runtime, item)
        return table
    if isinstance(value, list):
        array = runtime.table()
        for index, item in enumerate(value, start=1):
            array[index] = _to_lua(runtime, item)
        return array
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _from_lua(runtime: Any, value: Any) -> Any:
    if runtime.eval("type")(value) == "table":
        return {str(key): _from_lua(runtime, item) for key, item in value.items()}
    return value


def run_health(script: str, obj: dict[str, Any]) -> dict[str, str]:
    """The health Argo CD would show for ``obj``: ``{"status": ..., "message": ...}``."""
    runtime = lua51.LuaRuntime(register_eval=False, unpack_returned_tuples=False)
    run = runtime.eval(_SANDBOXED_RUN)
    returned = run(script, _to_lua(runtime, json.loads(json.dumps(obj))))
    if runtime.eval("type")(returned) != "table":
        raise AssertionError(f"expect table output from Lua script, not {returned!r}")
    health = _from_lua(runtime, returned)
    status = str(health.get("status", ""))
    if status not in VALID_STATUSES:
        return {"status": "Unknown", "message": "Lua returned an invalid health status"}
    return {"status": status, "message": str(health.get("message", ""))}
