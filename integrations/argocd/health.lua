-- Argo CD health check for canary.rollout.dev/v1alpha1 Rollout.
-- Argo CD runs it with the live object as the global table `obj` and reads the
-- returned `hs.status` (Healthy, Progressing, Suspended, Degraded, Unknown) and
-- `hs.message`. Install: argocd-cm key
--   resource.customizations.health.canary.rollout.dev_Rollout
-- (integrations/argocd/argocd-cm.yaml carries this script under that key).
--
-- Mapping (docs/argocd.md explains the choices):
--   no status yet, or status.observedGeneration behind metadata.generation -> Progressing
--   condition SpecValid=False (a newer spec is invalid; the last valid one runs) -> Degraded
--   condition Reconciled=False (the controller's ticks on it fail; it cannot act) -> Degraded
--   WaitingForCanary, Progressing, Promoting -> Progressing
--   Paused -> Suspended
--   Succeeded -> Healthy, or Progressing while spec.version is not yet the stable one
--     (the controller has not picked the new spec up yet)
--   RolledBack, Failed -> Degraded, or Healthy once spec.version is the stable version
--     again (Git was reverted to what runs)
--   anything else -> Unknown
-- Only the base and table libraries are used: Argo CD opens no others for this script.
hs = {}

local function with_message(default)
  if obj.status ~= nil and obj.status.message ~= nil and obj.status.message ~= "" then
    return obj.status.message
  end
  return default
end

if obj.status == nil or obj.status.phase == nil or obj.status.phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for the rollout controller to report a phase"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the rollout controller to observe generation " .. tostring(generation)
  return hs
end

-- a False condition of these types makes the rollout Degraded, whatever its phase
local degrading = {
  SpecValid = "The newest spec is invalid, the last valid one still runs: ",
  Reconciled = "The rollout controller cannot act on this rollout: ",
}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    local prefix = degrading[condition.type]
    if prefix ~= nil and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = prefix .. (condition.message or condition.reason or condition.type)
      return hs
    end
  end
end

local phase = obj.status.phase
local wanted = nil
if obj.spec ~= nil then
  wanted = obj.spec.version
end
if phase == "WaitingForCanary" or phase == "Progressing" or phase == "Promoting" then
  hs.status = "Progressing"
  hs.message = with_message(phase)
elseif phase == "Paused" then
  hs.status = "Suspended"
  hs.message = with_message("Paused: waiting for `rollout promote`")
elseif phase == "RolledBack" or phase == "Failed" then
  if wanted ~= nil and wanted == obj.status.stableVersion then
    hs.status = "Healthy"
    hs.message = tostring(wanted) .. " is stable; " .. with_message(phase)
  else
    hs.status = "Degraded"
    hs.message = with_message(phase)
  end
elseif phase == "Succeeded" then
  if wanted ~= nil and wanted ~= obj.status.stableVersion then
    hs.status = "Progressing"
    hs.message = "Waiting for the rollout controller to start rolling out " .. tostring(wanted)
  else
    hs.status = "Healthy"
    hs.message = with_message("Succeeded")
  end
else
  hs.status = "Unknown"
  hs.message = "Unknown rollout phase " .. tostring(phase)
end
return hs
