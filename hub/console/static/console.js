// pnc-hub console: live updates over Server-Sent Events (no framework, no build step).
"use strict";

function setText(root, selector, text) {
  const cell = root.querySelector(selector);
  if (cell) cell.textContent = text;
}

function watchStation(main) {
  const source = new EventSource(main.dataset.events);
  source.addEventListener("status", (message) => {
    const data = JSON.parse(message.data);
    let row = document.getElementById("connector-" + data.connector_id);
    if (!row) {
      const body = document.querySelector("#connectors tbody");
      if (!body) return;
      row = document.createElement("tr");
      row.id = "connector-" + data.connector_id;
      for (const name of ["id", "status", "error", "since", "availability", "transaction"]) {
        const cell = document.createElement("td");
        cell.className = name;
        cell.textContent = name === "id" ? String(data.connector_id) : "–";
        row.appendChild(cell);
      }
      body.appendChild(row);
    }
    setText(row, ".status", data.status);
    setText(row, ".error", data.error_code || "–");
    setText(row, ".since", data.at.replace("T", " ").replace(/\.\d+/, ""));
    row.dataset.status = data.status;
  });
  source.addEventListener("connection", (message) => {
    const data = JSON.parse(message.data);
    const badge = document.getElementById("station-online");
    if (badge) badge.dataset.online = data.online ? "yes" : "no";
  });
}

function tailMessages(main) {
  let url = main.dataset.tail;
  const source = new EventSource(url);
  source.addEventListener("message", (message) => {
    const data = JSON.parse(message.data);
    const body = document.querySelector("#messages tbody");
    if (!body) return;
    const row = document.createElement("tr");
    for (const text of [data.at.replace("T", " ").replace(/\.\d+/, ""), data.direction,
                        data.action || String(data.message_type), data.payload]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > 500) body.deleteRow(-1);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const main = document.getElementById("content");
  if (!main) return;
  if (main.dataset.events) watchStation(main);
  if (main.dataset.tail) tailMessages(main);
});
