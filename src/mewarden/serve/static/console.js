// The SOL console page: xterm.js (served by mewarden) on a WebSocket that mewarden relays to
// the node's AMT redirection port. No inline script or style: xterm's own <style> elements get
// this page's CSP nonce (read from a meta element) as they are created.
import { Terminal } from "/static/vendor/xterm.mjs";

const nonce = document.querySelector("meta[name='csp-nonce']").content;
const createElement = document.createElement.bind(document);
document.createElement = (tag, options) => {
  const element = createElement(tag, options);
  if (String(tag).toLowerCase() === "style") {
    element.nonce = nonce;
  }
  return element;
};

const box = document.getElementById("terminal");
const status = document.getElementById("console-status");
const term = new Terminal({ cols: 80, rows: 25, convertEol: false, cursorBlink: true });
term.open(box);
window.mewardenTerminal = term; // tests read the screen through xterm's buffer API

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new WebSocket(`${scheme}//${location.host}${box.dataset.socket}`, [
  "mewarden-sol",
  `csrf.${box.dataset.csrf}`,
]);
socket.binaryType = "arraybuffer";
const encoder = new TextEncoder();

socket.addEventListener("open", () => {
  status.textContent = "Connected.";
  box.dataset.connected = "1";
  term.focus();
});
socket.addEventListener("message", (message) => {
  if (typeof message.data === "string") {
    const answer = JSON.parse(message.data);
    if (answer.error) {
      status.textContent = `Refused: ${answer.error.message}`;
    }
    return;
  }
  term.write(new Uint8Array(message.data));
});
socket.addEventListener("close", () => {
  status.textContent += " Closed.";
  box.dataset.connected = "0";
});
term.onData((data) => {
  if (socket.readyState === WebSocket.OPEN) {
    socket.send(encoder.encode(data));
  }
});
