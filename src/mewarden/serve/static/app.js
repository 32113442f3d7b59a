// mewarden web console: confirmation dialogs and the live event stream.
// No inline script anywhere (the Content-Security-Policy allows only this origin's files).
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

function eventItem(e) {
  const li = document.createElement("li");
  li.className = "new";
  const time = document.createElement("time");
  time.textContent = e.at;
  const kind = document.createElement("b");
  kind.textContent = e.kind;
  const detail = document.createElement("span");
  detail.className = "mono";
  detail.textContent = JSON.stringify(e.detail);
  li.append(time, " ", kind, " ", e.node || "–", " ", e.actor, " ", detail);
  return li;
}

function startStream(list) {
  const source = new EventSource(list.dataset.stream);
  source.addEventListener("audit", (message) => {
    list.prepend(eventItem(JSON.parse(message.data)));
    while (list.children.length > 500) {
      list.lastElementChild.remove();
    }
  });
  list.dataset.live = "1";
}

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("live-events");
  if (list && list.dataset.stream) {
    startStream(list);
  }
});
