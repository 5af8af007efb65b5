// Voice chat (docs/voice.md): a mesh of RTCPeerConnections, one to every other participant,
// signalled through the room channel. The newcomer offers to everyone listed in voiceJoined;
// those already in wait for its offer. The ICE servers are the room's
// (GET /api/rooms/{room}/webrtc/ice-servers); when the server says its own STUN is unreachable at
// the advertised address the person is warned before the call. Who speaks: the microphone's level
// through an AnalyserNode, the others' from the energy of the audio received (getStats).
import { call as callApi, explain } from "./api.js";
import { html, useEffect, useRef, useState } from "./lib.js";

const LEVEL_EVERY_MS = 200;
const SPEAKING_LEVEL = 0.02; // root mean square level, 0..1 (full scale)
const HOLD_MS = 600;

/**
 * @typedef {import("./channel.js").RoomChannel} RoomChannel
 * @typedef {{id: string, userId: string, pc: RTCPeerConnection, state: string, speaking: boolean,
 *   speakingUntil: number, energy: number, duration: number, pending: RTCIceCandidateInit[],
 *   audio: HTMLAudioElement | null}} Peer
 * @typedef {{code: string, message: string}} Refusal
 */

export class VoiceCall {
  /**
   * @param {string} roomId @param {RoomChannel} channel
   * @param {() => void} changed called whenever what a view shows may have changed
   */
  constructor(roomId, channel, changed) {
    this.roomId = roomId;
    this.channel = channel;
    this.changed = changed;
    /** @type {"idle" | "joining" | "joined"} */
    this.stage = "idle";
    this.self = "";
    this.muted = false;
    this.speaking = false;
    this.speakingUntil = 0;
    this.warning = "";
    this.error = "";
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {AudioContext | null} */
    this.audio = null;
    /** @type {AnalyserNode | null} */
    this.analyser = null;
    /** @type {(() => void) | null} */
    this.unlisten = null;
    /** @type {number | undefined} */
    this.levels = undefined;
  }

  async join() {
    if (this.stage !== "idle") return;
    this.stage = "joining";
    this.error = "";
    this.warning = "";
    this.changed();
    try {
      const ice = await callApi("GET", `/api/rooms/${this.roomId}/webrtc/ice-servers`, undefined, { roomId: this.roomId });
      this.iceServers = ice.iceServers;
      const stun = ice.builtinStun;
      if (stun && stun.reachable === false) {
        this.warning = `Voice may not connect: the server's STUN (${stun.url}) is not reachable`
          + `${stun.problem ? ` (${stun.problem})` : ""}.`;
      }
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    } catch (e) {
      const denied = e instanceof DOMException && e.name === "NotAllowedError";
      this.fail(denied ? "The microphone was not allowed." : `Cannot start voice: ${explain(e)}`);
      return;
    }
    this.listenToMicrophone(this.stream);
    this.unlisten = this.channel.listen({
      message: (message) => this.receive(message),
      status: (status) => {
        if (status === "closed" && this.stage !== "idle") this.fail("Voice ended: the connection dropped. Join again.");
      },
    });
    this.channel.request({ voiceJoin: {} }, (refusal) => this.fail(`Cannot join voice: ${refusal.message} (${refusal.code})`));
    this.levels = window.setInterval(() => this.measure(), LEVEL_EVERY_MS);
  }

  leave() {
    if (this.stage === "idle") return;
    if (this.channel.isOpen) this.channel.send({ voiceLeave: {} });
    this.teardown();
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    this.muted = muted;
    for (const track of this.stream?.getAudioTracks() ?? []) track.enabled = !muted;
    this.changed();
  }

  /** @param {string} why */
  fail(why) {
    this.teardown();
    this.error = why;
    this.changed();
  }

  teardown() {
    this.unlisten?.();
    this.unlisten = null;
    window.clearInterval(this.levels);
    for (const peer of this.peers.values()) this.closePeer(peer);
    this.peers.clear();
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.audio?.close().catch(() => {});
    this.audio = null;
    this.analyser = null;
    this.stage = "idle";
    this.self = "";
    this.speaking = false;
    this.changed();
  }

  /** @param {MediaStream} stream */
  listenToMicrophone(stream) {
    try {
      this.audio = new AudioContext();
      this.analyser = this.audio.createAnalyser();
      this.analyser.fftSize = 2048;
      this.audio.createMediaStreamSource(stream).connect(this.analyser);
    } catch {
      this.analyser = null; // no speaking indicator for oneself
    }
  }

  /** Who speaks: a level over the last interval, held a little so a word does not flicker. */
  async measure() {
    const now = performance.now();
    let dirty = false;
    if (this.analyser) {
      const samples = new Float32Array(this.analyser.fftSize);
      this.analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      if (!this.muted && Math.sqrt(sum / samples.length) > SPEAKING_LEVEL) this.speakingUntil = now + HOLD_MS;
      const speaking = !this.muted && this.speakingUntil > now;
      dirty ||= speaking !== this.speaking;
      this.speaking = speaking;
    }
    for (const peer of this.peers.values()) {
      // The received audio's energy over the interval (inbound-rtp totalAudioEnergy and
      // totalSamplesDuration): its mean square level, whatever the packets' timing.
      let energy = 0;
      let duration = 0;
      try {
        (await peer.pc.getStats()).forEach((report) => {
          if (report.type === "inbound-rtp" && report.kind === "audio") {
            energy += report.totalAudioEnergy ?? 0;
            duration += report.totalSamplesDuration ?? 0;
          }
        });
      } catch {
        continue; // closed meanwhile
      }
      const spent = duration - peer.duration;
      if (spent > 0 && Math.sqrt(Math.max(0, energy - peer.energy) / spent) > SPEAKING_LEVEL) peer.speakingUntil = now + HOLD_MS;
      peer.energy = energy;
      peer.duration = duration;
      const speaking = peer.speakingUntil > now;
      dirty ||= speaking !== peer.speaking;
      peer.speaking = speaking;
    }
    if (dirty) this.changed();
  }

  /** @param {string} id @param {string} userId @returns {Peer} */
  peer(id, userId) {
    const known = this.peers.get(id);
    if (known) return known;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    /** @type {Peer} */
    const peer = { id, userId, pc, state: "new", speaking: false, speakingUntil: 0, energy: 0, duration: 0, pending: [], audio: null };
    this.peers.set(id, peer);
    for (const track of this.stream?.getAudioTracks() ?? []) pc.addTrack(track, /** @type {MediaStream} */ (this.stream));
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      const candidate = c
        ? { to: id, candidate: c.candidate, sdpMid: c.sdpMid ?? "", sdpMLineIndex: c.sdpMLineIndex ?? 0,
          usernameFragment: c.usernameFragment ?? "" }
        : { to: id, candidate: "" };
      this.signal({ voiceCandidate: candidate });
    };
    pc.ontrack = (event) => {
      if (!peer.audio) {
        peer.audio = new Audio();
        peer.audio.autoplay = true;
      }
      peer.audio.srcObject = event.streams[0] ?? new MediaStream([event.track]);
      peer.audio.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      peer.state = pc.connectionState;
      if (pc.connectionState === "failed") {
        this.error = "A participant cannot be reached: no direct path between you (the server needs TURN for this network).";
      }
      this.changed();
    };
    this.changed();
    return peer;
  }

  /** @param {Peer} peer */
  closePeer(peer) {
    peer.pc.onconnectionstatechange = null;
    peer.pc.close();
    if (peer.audio) peer.audio.srcObject = null;
  }

  /** @param {Record<string, unknown>} message */
  signal(message) {
    this.channel.request(message, (refusal) => {
      if (refusal.code !== "voice_peer_not_found") this.error = `${refusal.message} (${refusal.code})`;
      this.changed();
    });
  }

  /** @param {Peer} peer */
  async flush(peer) {
    for (const candidate of peer.pending.splice(0)) await peer.pc.addIceCandidate(candidate).catch(() => {});
  }

  /** @param {Record<string, any>} message */
  async receive(message) {
    try {
      if (message.voiceJoined) {
        this.stage = "joined";
        this.self = message.voiceJoined.connectionId;
        this.changed();
        for (const other of message.voiceJoined.participants ?? []) {
          const peer = this.peer(other.connectionId, other.userId ?? "");
          const offer = await peer.pc.createOffer();
          await peer.pc.setLocalDescription(offer);
          this.signal({ voiceOffer: { to: peer.id, sdp: peer.pc.localDescription?.sdp ?? offer.sdp } });
        }
      } else if (message.voicePeerJoined) {
        this.peer(message.voicePeerJoined.connectionId, message.voicePeerJoined.userId ?? "");
      } else if (message.voicePeerLeft) {
        const peer = this.peers.get(message.voicePeerLeft.connectionId);
        if (peer) {
          this.closePeer(peer);
          this.peers.delete(peer.id);
          this.changed();
        }
      } else if (message.voiceOffer) {
        const peer = this.peer(message.voiceOffer.from, "");
        await peer.pc.setRemoteDescription({ type: "offer", sdp: message.voiceOffer.sdp });
        await this.flush(peer);
        const answer = await peer.pc.createAnswer();
        await peer.pc.setLocalDescription(answer);
        this.signal({ voiceAnswer: { to: peer.id, sdp: peer.pc.localDescription?.sdp ?? answer.sdp } });
      } else if (message.voiceAnswer) {
        const peer = this.peers.get(message.voiceAnswer.from);
        if (!peer) return;
        await peer.pc.setRemoteDescription({ type: "answer", sdp: message.voiceAnswer.sdp });
        await this.flush(peer);
      } else if (message.voiceCandidate) {
        const c = message.voiceCandidate;
        const peer = this.peers.get(c.from);
        if (!peer || !c.candidate) return; // the end of candidates needs nothing here
        /** @type {RTCIceCandidateInit} */
        const init = { candidate: c.candidate, sdpMid: c.sdpMid || null, sdpMLineIndex: c.sdpMLineIndex ?? 0 };
        if (c.usernameFragment) init.usernameFragment = c.usernameFragment;
        if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(init);
        else peer.pending.push(init);
      } else if (message.voiceEnded) {
        const reason = message.voiceEnded.reason;
        this.teardown();
        if (reason !== "left") this.error = `Voice ended: ${message.voiceEnded.message || reason}.`;
        this.changed();
      }
    } catch (e) {
      this.error = `Voice: ${explain(e)}`;
      this.changed();
    }
  }
}

/**
 * The voice button and the participants.
 * @param {{roomId: string, channel: RoomChannel | null, allowed: boolean, enabled: boolean}} props
 */
export function Voice({ roomId, channel, allowed, enabled }) {
  const [, setTick] = useState(0);
  const [names, setNames] = useState(/** @type {Record<string, string>} */ ({}));
  const [voiceOn, setVoiceOn] = useState(enabled);
  const call = useRef(/** @type {VoiceCall | null} */ (null));
  useEffect(() => setVoiceOn(enabled), [enabled]);

  useEffect(() => {
    if (!channel) return;
    const made = new VoiceCall(roomId, channel, () => setTick((n) => n + 1));
    call.current = made;
    // The room's settings may turn voice on or off while the page is open.
    const unlisten = channel.listen({
      message: (message) => {
        const event = message.event;
        if (event?.type === "settings_changed" && typeof event.payload?.settings?.voiceChatEnabled === "boolean") {
          setVoiceOn(event.payload.settings.voiceChatEnabled);
        }
      },
    });
    return () => {
      unlisten();
      made.leave();
      call.current = null;
    };
  }, [roomId, channel]);

  const stage = call.current?.stage ?? "idle";
  useEffect(() => {
    if (stage !== "joined") return;
    callApi("GET", `/api/rooms/${roomId}/members`, undefined, { roomId }).then((found) => {
      setNames(Object.fromEntries(found.members.map((/** @type {{userId: string, username: string}} */ m) => [m.userId, m.username])));
    }, () => {}); // without view_members the others are shown as "member"
  }, [roomId, stage]);

  const current = call.current;
  if (!allowed || !current) return null;
  if (!voiceOn && current.stage === "idle") {
    return html`<section class="card voice" aria-label="Voice"><h2>Voice</h2>
      <p class="aside">Voice chat is turned off in this room.</p></section>`;
  }
  const connected = [...current.peers.values()].filter((p) => p.state === "connected").length;
  return html`<section class="card voice" aria-label="Voice" data-voice-stage=${current.stage}>
    <h2>Voice ${current.stage === "joined" && html`<span class="meta">${connected}/${current.peers.size} connected</span>`}</h2>
    ${current.warning && html`<p class="notice" role="status">${current.warning}</p>`}
    ${current.error && html`<p class="error" role="alert">${current.error}</p>`}
    <div class="voice-buttons">
      ${current.stage === "idle"
        ? html`<button type="button" onClick=${() => current.join()}>Join voice</button>`
        : html`<button type="button" onClick=${() => current.leave()}>Leave voice</button>
          <button type="button" aria-pressed=${current.muted ? "true" : "false"} disabled=${current.stage !== "joined"}
            onClick=${() => current.setMuted(!current.muted)}>${current.muted ? "Unmute" : "Mute"}</button>`}
    </div>
    ${current.stage !== "idle" && html`<ul class="voice-list">
      <li class=${current.speaking ? "speaking" : ""} data-connection-state="self">
        <span class="speaker" aria-hidden="true"></span>
        <span class="name">you${current.muted ? " (muted)" : ""}</span>
        <span class="meta">${current.stage === "joined" ? "in voice" : "joining…"}</span>
      </li>
      ${[...current.peers.values()].map((p) => html`<li key=${p.id} class=${p.speaking ? "speaking" : ""}
        data-connection-state=${p.state} data-peer=${p.id}>
        <span class="speaker" aria-hidden="true"></span>
        <span class="name">${names[p.userId] ?? (p.userId ? "member" : "joining…")}</span>
        <span class=${`meta state ${p.state}`}>${p.state}${p.speaking ? " · speaking" : ""}</span>
      </li>`)}
    </ul>`}
  </section>`;
}
