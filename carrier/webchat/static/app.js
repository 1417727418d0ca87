// The patient web page: a session per chat, its token in a header on every request
// (no cookies), text turns over POST JSON, voice over WebRTC (the browser's microphone).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let session = null;
  let token = null;
  let pc = null;

  async function post(path, body) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers["X-Webchat-Token"] = token;
    const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}),
                                  credentials: "omit", cache: "no-store" });
    if (r.status === 204) return {};
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const error = new Error(data.error || ("HTTP " + r.status));
      error.status = r.status;
      throw error;
    }
    return data;
  }

  function add(who, text) {
    const li = document.createElement("li");
    li.className = who;
    li.textContent = text;  // never innerHTML: the agent's words are text
    $("log").appendChild(li);
    li.scrollIntoView({ block: "end" });
  }

  function status(text) { $("status").textContent = text; document.body.dataset.state = text; }

  function show(replies, ended) {
    (replies || []).forEach((t) => add("agent", t));
    if (ended) finish("The conversation has ended.");
  }

  function finish(text) {
    status(text);
    $("message").disabled = true;
    $("send-button").disabled = true;
    if (pc) { pc.close(); pc = null; }
  }

  async function start(mode) {
    $("start").hidden = true;
    $("chat").hidden = false;
    try {
      const data = await post("/api/session", { mode, phone: $("phone").value });
      session = data.session;
      token = data.token;
      if (mode === "voice") {
        $("send").hidden = true;
        await voice();
      } else {
        show(data.replies, data.ended);
        $("message").focus();
      }
    } catch (e) {
      finish("Sorry, the chat could not start: " + e.message);
    }
  }

  async function voice() {
    status("connecting");
    // Echo cancellation stays (the agent's voice from the speakers must not barge in);
    // gain control and noise suppression go: their ramps clip the first syllable of an
    // answer, and the agent's own endpointer and recogniser take the voice as it is.
    const mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, autoGainControl: false, noiseSuppression: false } });
    pc = new RTCPeerConnection();
    mic.getTracks().forEach((t) => pc.addTrack(t, mic));
    pc.ontrack = (ev) => { $("voice").srcObject = ev.streams[0] || new MediaStream([ev.track]); };
    pc.onconnectionstatechange = () => {
      if (!pc) return;
      if (pc.connectionState === "connected") status("connected");
      if (["failed", "closed", "disconnected"].includes(pc.connectionState)) finish("ended");
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {  // all candidates in the offer: no trickle endpoint
      if (pc.iceGatheringState === "complete") return resolve();
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") resolve(); };
    });
    const answer = await post(`/api/session/${session}/voice`,
                              { type: "offer", sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription(answer);
  }

  async function send(ev) {
    ev.preventDefault();
    const text = $("message").value.trim();
    if (!text || !session) return;
    $("message").value = "";
    add("me", text);
    try {
      const data = await post(`/api/session/${session}/message`, { text });
      show(data.replies, data.ended);
    } catch (e) {
      if (e.status === 413 || e.status === 429) {  // not taken, the chat goes on
        status("Not sent: " + e.message);
        $("message").value = text;
        return;
      }
      finish("Sorry, the chat has ended: " + e.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("start-text").addEventListener("click", () => start("text"));
    $("start-voice").addEventListener("click", () => start("voice"));
    $("send").addEventListener("submit", send);
    $("end").addEventListener("click", async () => {
      if (session) await post(`/api/session/${session}/end`).catch(() => null);
      finish("ended");
    });
  });
})();
