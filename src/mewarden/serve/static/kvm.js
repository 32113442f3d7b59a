// The KVM console page: noVNC's RFB client (served by mewarden) on a WebSocket that mewarden
// relays to the node's AMT KVM. The socket is opened here, with the CSRF subprotocol, and given
// to noVNC; mewarden speaks security type None to it (the AMT password stays on the server).
import RFB from "/static/vendor/novnc/core/rfb.js";

const box = document.getElementById("screen");
const status = document.getElementById("console-status");
const cad = document.getElementById("send-cad");

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new WebSocket(`${scheme}//${location.host}${box.dataset.socket}`, [
  "mewarden-kvm",
  `csrf.${box.dataset.csrf}`,
]);
socket.binaryType = "arraybuffer";
let refusal = "";
// a refusal (consent needed, KVM disabled...) comes as one JSON text message before the close;
// noVNC ignores text messages
socket.addEventListener("message", (message) => {
  if (typeof message.data === "string") {
    const answer = JSON.parse(message.data);
    if (answer.error) {
      refusal = `Refused: ${answer.error.message}`;
      status.textContent = refusal;
    }
  }
});

const rfb = new RFB(box, socket, { shared: true });
window.mewardenRfb = rfb; // tests read the screen from noVNC's canvas
rfb.addEventListener("connect", () => {
  status.textContent = "Connected.";
  box.dataset.connected = "1";
  cad.disabled = false;
  rfb.focus();
});
rfb.addEventListener("desktopname", (event) => {
  box.setAttribute("aria-label", `Remote screen: ${event.detail.name}`);
});
rfb.addEventListener("disconnect", () => {
  status.textContent = `${refusal || status.textContent} Closed.`;
  box.dataset.connected = "0";
  cad.disabled = true;
});
cad.addEventListener("click", () => {
  rfb.sendCtrlAltDel();
  rfb.focus();
});
