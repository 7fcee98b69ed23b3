/* Live updates for the supervisor pages.
 *
 * The page names its socket in <body data-live-url>. Every server message
 * {"type": "finding.raised", ...} becomes a DOM event "live:finding.raised" on <body>;
 * htmx fragments listen for those and re-render from the server.
 *
 * The socket keeps the discipline the guide asks of chat widgets (Edge Case 1, Step 2):
 * an application-level ping every 20 s with a 5 s pong window, reconnect after 3 missed
 * pongs or a close, exponential backoff with jitter between attempts, and a visible
 * status so a supervisor never mistakes a dead page for a quiet one.
 */
(function () {
  "use strict";

  const PING_EVERY_MS = 20000;
  const PONG_WINDOW_MS = 5000;
  const MAX_MISSED_PONGS = 3;
  const BACKOFF_BASE_MS = 1000;
  const BACKOFF_MAX_MS = 30000;

  const body = document.body;
  const statusEl = document.getElementById("live-status");

  function setStatus(state, text) {
    if (!statusEl) return;
    statusEl.hidden = false;
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function emit(type, detail) {
    body.dispatchEvent(new CustomEvent("live:" + type, { detail: detail, bubbles: true }));
  }

  function startSocket(path) {
    let socket = null;
    let attempt = 0;
    let missedPongs = 0;
    let pingTimer = null;
    let pongTimer = null;
    let retryTimer = null;
    let countdownTimer = null;
    let everConnected = false;

    function url() {
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      return scheme + window.location.host + path;
    }

    function clearTimers() {
      clearInterval(pingTimer);
      clearTimeout(pongTimer);
      clearTimeout(retryTimer);
      clearInterval(countdownTimer);
    }

    function scheduleReconnect() {
      clearTimers();
      attempt += 1;
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, attempt - 1));
      const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      let remaining = Math.ceil(delay / 1000);
      setStatus("reconnecting", "Disconnected · retrying in " + remaining + "s");
      countdownTimer = setInterval(function () {
        remaining -= 1;
        if (remaining > 0) setStatus("reconnecting", "Disconnected · retrying in " + remaining + "s");
      }, 1000);
      retryTimer = setTimeout(connect, delay);
    }

    function ping() {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify({ type: "ping" }));
      clearTimeout(pongTimer);
      pongTimer = setTimeout(function () {
        missedPongs += 1;
        if (missedPongs >= MAX_MISSED_PONGS) {
          setStatus("reconnecting", "Connection silent · reconnecting");
          socket.close(4000, "pongs missed");
        }
      }, PONG_WINDOW_MS);
    }

    function connect() {
      clearTimers();
      setStatus(everConnected ? "reconnecting" : "connecting", everConnected ? "Reconnecting…" : "Connecting…");
      try {
        socket = new WebSocket(url());
      } catch (error) {
        scheduleReconnect();
        return;
      }
      socket.onopen = function () {
        missedPongs = 0;
        pingTimer = setInterval(ping, PING_EVERY_MS);
      };
      socket.onmessage = function (message) {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch (error) {
          return;
        }
        if (data.type === "hello") {
          const wasReconnect = everConnected;
          everConnected = true;
          attempt = 0;
          setStatus("live", "Live");
          if (wasReconnect) emit("reconnected", data);
          return;
        }
        if (data.type === "pong") {
          missedPongs = 0;
          clearTimeout(pongTimer);
          return;
        }
        emit(data.type, data);
      };
      socket.onclose = function (event) {
        if (event.code === 1006 && !everConnected && attempt >= 3) {
          setStatus("offline", "Live updates unavailable (signed out?)");
        }
        scheduleReconnect();
      };
      socket.onerror = function () {
        /* onclose follows and schedules the retry */
      };
    }

    window.addEventListener("online", function () {
      if (!socket || socket.readyState === WebSocket.CLOSED) {
        attempt = 0;
        connect();
      }
    });
    connect();
  }

  /* TTL countdowns: <span data-countdown="2026-11-28T12:00:00+00:00"> */
  function tickCountdowns() {
    const now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      const until = Date.parse(el.dataset.countdown);
      if (isNaN(until)) return;
      let seconds = Math.round((until - now) / 1000);
      const past = seconds < 0;
      seconds = Math.abs(seconds);
      const m = Math.floor(seconds / 60);
      const s = seconds % 60;
      const text = (m >= 60 ? Math.floor(m / 60) + "h " + (m % 60) + "m" : m + "m " + String(s).padStart(2, "0") + "s");
      el.textContent = past ? "past TTL by " + text : text;
      el.classList.toggle("error-text", past);
    });
  }

  /* Socket-state chart (dashboard): uPlot over the samples of the last hour. */
  const CHART_COLORS = {
    open: "#1a7f37", silent: "#b42318", reconnecting: "#d49a00", polling: "#8a5a00", closed: "#667085", unknown: "#98a2b3",
  };

  function renderChart() {
    const holder = document.getElementById("socket-chart");
    const dataEl = document.getElementById("socket-chart-data");
    if (!holder || !dataEl || typeof uPlot === "undefined") return;
    let series = JSON.parse(dataEl.textContent);
    const states = Object.keys(series).filter(function (key) { return key !== "t"; });
    const empty = document.getElementById("socket-chart-empty");
    function columns(data) {
      return [data.t].concat(states.map(function (state) { return data[state]; }));
    }
    if (empty) empty.hidden = series.t.length > 0;
    const plot = new uPlot(
      {
        width: holder.clientWidth || 800,
        height: 260,
        scales: {
          x: {
            time: true,
            range: function () {
              const now = Math.floor(Date.now() / 1000);
              return [now - 3600, now];
            },
          },
          y: { range: function (u, min, max) { return [0, Math.max(4, max + 1)]; } },
        },
        axes: [{}, { label: "participants" }],
        series: [{}].concat(states.map(function (state) {
          return { label: state, stroke: CHART_COLORS[state] || "#444", width: 2 };
        })),
      },
      columns(series),
      holder
    );
    function refresh() {
      fetch(holder.dataset.chartUrl, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) return;
          series = data;
          if (empty) empty.hidden = series.t.length > 0;
          plot.setData(columns(series));
        })
        .catch(function () { /* the next update retries */ });
    }
    body.addEventListener("live:health.update", refresh);
    body.addEventListener("live:reconnected", refresh);
    window.addEventListener("resize", function () {
      plot.setSize({ width: holder.clientWidth || 800, height: 260 });
    });
  }

  /* Force close (admins): the dialog posts to the same API endpoint scripts use, with an
   * Idempotency-Key minted when the dialog opens, so a double submit or a retry after a
   * network error can never close twice. */
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function setupForceClose() {
    const dialog = document.getElementById("force-close-dialog");
    if (!dialog) return;
    const form = document.getElementById("force-close-form");
    const reason = document.getElementById("force-close-reason");
    const status = document.getElementById("force-close-status");
    const submit = document.getElementById("force-close-submit");
    let key = null;

    function show(text, tone) {
      status.hidden = false;
      status.textContent = text;
      status.classList.toggle("ok", tone === "ok");
      status.classList.toggle("bad", tone === "bad");
    }

    document.addEventListener("click", function (event) {
      const opener = event.target.closest("[data-open-dialog='force-close-dialog']");
      if (!opener) return;
      key = newKey();
      status.hidden = true;
      submit.disabled = false;
      dialog.showModal();
      reason.focus();
    });
    document.getElementById("force-close-cancel").addEventListener("click", function () { dialog.close(); });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!reason.value.trim()) {
        show("A reason is required: it goes to the audit log.", "bad");
        return;
      }
      submit.disabled = true;
      show("Calling the platform…");
      fetch(form.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
          "Idempotency-Key": '"' + key + '"',
        },
        body: JSON.stringify({ reason: reason.value.trim() }),
      })
        .then(function (response) {
          return response.json().then(function (body) { return { code: response.status, body: body }; });
        })
        .then(function (result) {
          const body = result.body || {};
          if (result.code === 200) {
            show("Closed. Platform call: " + (body.platformCall || "-"), "ok");
            emit("conversation.updated", body);
            setTimeout(function () { dialog.close(); }, 1500);
          } else if (result.code === 202) {
            show("Pending: " + (body.detail || "the platform call failed and is retried in the background") +
              " (" + (body.platformCall || "-") + ")");
            emit("conversation.updated", body);
          } else {
            show((body.detail || body.title || "The request failed") + " (HTTP " + result.code + ")", "bad");
            submit.disabled = result.code === 409;
            if (result.code === 409) setTimeout(function () { submit.disabled = false; }, 1000);
          }
        })
        .catch(function () {
          show("Network error: press Force close again to retry with the same key (it will not close twice).", "bad");
          submit.disabled = false;
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const path = body.dataset.liveUrl;
    if (path) startSocket(path);
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
    renderChart();
    setupForceClose();
    const hint = document.getElementById("new-findings-hint");
    if (hint) body.addEventListener("live:finding.raised", function () { hint.hidden = false; });
  });
})();
