// Drives an emulated AMT device with MeshCentral's own AMT modules (an independent client).
// Usage: node meshcentral_client.js <meshcentral/amt dir> <host> <port>
// The password comes from MEWARDEN_AMT_PASSWORD (never argv). Prints one JSON object.
"use strict";
const dir = process.argv[2];
const host = process.argv[3];
const port = parseInt(process.argv[4], 10);
const CreateWsmanComm = require(dir + "/amt-wsman-comm.js");
const WsmanStackCreateService = require(dir + "/amt-wsman.js");
const AmtStackCreateService = require(dir + "/amt.js");

const comm = CreateWsmanComm(host, port, "admin", process.env.MEWARDEN_AMT_PASSWORD, 0);
const amt = AmtStackCreateService(WsmanStackCreateService(comm));
const result = {};

function finish() { process.stdout.write(JSON.stringify(result) + "\n"); process.exit(0); }
function fail(step, status) { result.error = step + ": status " + status; finish(); }

function powerState(next) {
  amt.Enum("CIM_AssociatedPowerManagementService", function (stack, name, responses, status) {
    if (status !== 200) return fail("enum power", status);
    next(responses[0].PowerState);
  });
}

amt.Get("AMT_GeneralSettings", function (stack, name, response, status) {
  if (status !== 200) return fail("get general settings", status);
  result.realm = response.Body.DigestRealm;
  result.hostname = response.Body.HostName;
  amt.Enum("CIM_SoftwareIdentity", function (stack, name, responses, status) {
    if (status !== 200) return fail("enum software identity", status);
    result.versions = {};
    for (const item of responses) { result.versions[item.InstanceID] = item.VersionString; }
    powerState(function (before) {
      result.power_before = before;
      amt.RequestPowerStateChange(8, function (stack, name, response, status) {
        if (status !== 200) return fail("power change", status);
        result.return_value = response.Body.ReturnValue;
        powerState(function (after) { result.power_after = after; finish(); });
      });
    });
  });
});
setTimeout(function () { result.error = "timeout"; finish(); }, 20000);
