// The horn: a beep (WebAudio, no sound file) every BEEP_EVERY_MS while a high-priority
// alarm raised since the page opened is unacknowledged and not muted. The operator can
// silence it; a new high-priority alarm sounds again. Silencing is not acknowledging.
(() => {
  "use strict";

  const BEEP_EVERY_MS = 1500;
  const state = { fresh: new Set(), silenced: false, sounding: false, beeps: 0, audio: null };
  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
  const t = (key) => window.HazardWatchI18n.t(key);

  function beep() {
    try {
      state.audio ||= new AudioContext();
      const ctx = state.audio;
      if (ctx.state === "suspended") ctx.resume(); // a click on the page lets it play
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.4);
    } catch (err) {
      // No audio device: the blinking row and the counts still say it.
    }
    state.beeps += 1;
    $("tone-toggle").dataset.beeps = String(state.beeps);
  }

  function show() {
    const button = $("tone-toggle");
    button.dataset.muted = String(state.silenced);
    button.dataset.sounding = String(state.sounding);
    button.textContent = t(state.silenced ? "mute_off" : "mute_on");
  }

  // The open alarms changed: sound while a fresh high-priority one waits for its ack.
  function update(open) {
    const waiting = new Set(
      open.filter((a) => a.state === "active_unack" && !a.muted).map((a) => a.id),
    );
    for (const id of state.fresh) if (!waiting.has(id)) state.fresh.delete(id);
    const sounding = !state.silenced && state.fresh.size > 0;
    if (sounding && !state.sounding) beep();
    state.sounding = sounding;
    show();
  }

  // A live ACTIVATE: a new high-priority alarm sounds, even after a silence.
  function raised(alarm) {
    if (alarm.priority !== "high" || alarm.muted) return;
    state.fresh.add(alarm.id);
    state.silenced = false;
  }

  window.HazardWatchTone = { update, raised };

  document.addEventListener("DOMContentLoaded", () => {
    show();
    $("tone-toggle").addEventListener("click", () => {
      state.silenced = !state.silenced;
      state.sounding = !state.silenced && state.fresh.size > 0;
      show();
    });
    window.HazardWatchI18n.onChange(show);
    setInterval(() => {
      if (state.sounding) beep();
    }, BEEP_EVERY_MS);
  });
})();
