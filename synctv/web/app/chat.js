// The room's chat (docs/realtime.md, "Chat and danmaku"): the recent history over REST with
// "load older" by cursor, live messages and deletions from the channel, a composer that sends a
// message or, switched to danmaku, a comment flown over the video in a colour and position.
// Text is plain text everywhere: it is only ever put in the page as text nodes.
import { ApiError, call, currentSession, explain, guestPass } from "./api.js";
import { loadDanmakuPrefs, saveDanmakuPrefs } from "./danmaku.js";
import { html, useEffect, useRef, useState } from "./lib.js";

const PAGE = 50;

/**
 * @typedef {import("./channel.js").RoomChannel} RoomChannel
 * @typedef {{mode: "scroll" | "top" | "bottom", color: string, mediaId: string, position: number}} Danmaku
 * @typedef {{id: string, senderId: string, senderName: string, text: string, sentAt: number,
 *   danmaku: Danmaku | null}} ChatMessage
 * @typedef {{code: string, message: string, details?: Record<string, any>}} Refusal
 */

/** A refusal as a sentence for the person who sent. @param {Refusal} error */
export function refusalText(error) {
  if (error.code === "rate_limited") {
    const wait = Number(error.details?.retry_after_seconds ?? error.details?.retryAfterSeconds ?? 0);
    return wait > 0 ? `Too many messages: wait ${Math.ceil(wait)} s.` : "Too many messages: slow down.";
  }
  if (error.code === "chat_disabled") return "Chat is turned off in this room.";
  if (error.code === "chat_not_stored") return "The message was not stored: send it again.";
  return `${error.message} (${error.code})`;
}

/** Who I am in this room: the signed-in user's id, else the guest's. @param {string} roomId */
export function myIdIn(roomId) {
  return currentSession()?.user.id ?? guestPass(roomId)?.guestId ?? "";
}

/** Whether a scrolled list shows its end. @param {HTMLElement | null} element */
function atEnd(element) {
  return !element || element.scrollHeight - element.scrollTop - element.clientHeight < 24;
}

/** @param {number} seconds Unix time */
function timeOf(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * @param {{roomId: string, channel: RoomChannel | null, permissions: string[], chatEnabled: boolean,
 *   mediaSelected: boolean}} props
 */
export function Chat({ roomId, channel, permissions, chatEnabled, mediaSelected }) {
  const [messages, setMessages] = useState(/** @type {ChatMessage[]} */ ([]));
  const [older, setOlder] = useState(/** @type {string | null} */ (null));
  const [error, setError] = useState("");
  const [text, setText] = useState("");
  const [prefs, setPrefs] = useState(loadDanmakuPrefs);
  const [enabled, setEnabled] = useState(chatEnabled);
  useEffect(() => setEnabled(chatEnabled), [chatEnabled]);
  const log = /** @type {{current: HTMLOListElement | null}} */ (useRef(null));
  // The log follows new messages while it is scrolled to its end (looked at before each change).
  const pinned = useRef(true);
  const myId = myIdIn(roomId);
  const canRead = permissions.includes("view_chat_history");
  const canSend = permissions.includes("send_chat_messages") && enabled;
  const canDeleteOthers = permissions.includes("delete_chat_messages");

  const loadRecent = async () => {
    if (!canRead) return;
    try {
      const page = await call("GET", `/api/rooms/${roomId}/chat?limit=${PAGE}`, undefined, { roomId });
      pinned.current = true;
      setMessages(/** @type {ChatMessage[]} */ (page.messages).slice().reverse());
      setOlder(page.nextBefore);
    } catch (e) {
      setError(explain(e));
    }
  };

  const loadOlder = async () => {
    if (!older) return;
    try {
      const page = await call("GET", `/api/rooms/${roomId}/chat?limit=${PAGE}&before=${encodeURIComponent(older)}`,
        undefined, { roomId });
      pinned.current = false;
      const earlier = /** @type {ChatMessage[]} */ (page.messages).slice().reverse();
      setMessages((now) => [...earlier.filter((m) => !now.some((n) => n.id === m.id)), ...now]);
      setOlder(page.nextBefore);
    } catch (e) {
      setError(explain(e));
    }
  };

  useEffect(() => {
    loadRecent();
    if (!channel) return;
    return channel.listen({
      message: (message) => {
        // A welcome (a first connection, or a resume too far behind) carries no chat: reload.
        if (message.welcome) loadRecent();
        const event = message.event;
        if (event?.type === "settings_changed" && typeof event.payload?.settings?.chatEnabled === "boolean") {
          setEnabled(event.payload.settings.chatEnabled);
          if (!event.payload.settings.chatEnabled) setError("");
        } else if (event?.type === "chat_message") {
          const added = /** @type {ChatMessage} */ (event.payload);
          pinned.current = atEnd(log.current) || added.senderId === myId;
          setMessages((now) => (now.some((m) => m.id === added.id) ? now : [...now, added]));
        } else if (event?.type === "chat_message_deleted") {
          pinned.current = atEnd(log.current);
          setMessages((now) => now.filter((m) => m.id !== event.payload.id));
        }
      },
    });
  }, [roomId, channel, canRead]);

  useEffect(() => {
    const element = log.current;
    if (element && pinned.current) element.scrollTop = element.scrollHeight;
  }, [messages]);

  const danmaku = prefs.asDanmaku && mediaSelected;
  const send = async () => {
    const clean = text.trim();
    if (!clean) return;
    /** @type {Record<string, string>} */
    const body = { text: clean };
    if (danmaku) {
      body.danmakuMode = prefs.mode;
      body.danmakuColor = prefs.color;
    }
    setError("");
    setText("");
    pinned.current = true;
    /** @param {Refusal} refusal */
    const refused = (refusal) => {
      setError(refusalText(refusal));
      setText((now) => now || clean);
    };
    if (channel?.isOpen) {
      channel.request({ chat: body }, refused);
      return;
    }
    try {
      await call("POST", `/api/rooms/${roomId}/chat`, body, { roomId });
    } catch (e) {
      if (e instanceof ApiError) refused({ code: e.code, message: e.message, details: e.details });
      else refused({ code: "network", message: explain(e) });
    }
  };

  /** @param {ChatMessage} message */
  const remove = async (message) => {
    /** @param {Refusal} refusal */
    const refused = (refusal) => setError(refusalText(refusal));
    if (channel?.isOpen) {
      channel.request({ chatDelete: { messageId: message.id } }, refused);
      return;
    }
    try {
      await call("DELETE", `/api/rooms/${roomId}/chat/${message.id}`, undefined, { roomId });
    } catch (e) {
      setError(explain(e));
    }
  };

  /** @param {Partial<import("./danmaku.js").DanmakuPrefs>} change */
  const setPref = (change) => {
    setPrefs({ ...prefs, ...change });
    saveDanmakuPrefs(change);
  };

  /** @param {KeyboardEvent} event */
  const keydown = (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  };

  return html`<section class="card chat" aria-label="Chat">
    <h2>Chat</h2>
    ${!canRead && html`<p class="aside">This room does not show you its chat history.</p>`}
    ${older && html`<button type="button" class="link-button older" onClick=${loadOlder}>Load older messages</button>`}
    <ol class="chat-log" ref=${log} aria-live="polite" aria-label="Messages">
      ${messages.map((m) => html`<li key=${m.id} class=${m.senderId === myId ? "mine" : ""} data-message-id=${m.id}>
        <span class="who">${m.senderName || "guest"}</span>
        <time class="meta">${timeOf(m.sentAt)}</time>
        ${m.danmaku && html`<span class="tag" title=${`danmaku, ${m.danmaku.mode}`}>danmaku</span>`}
        ${(m.senderId === myId || canDeleteOthers) && html`<button type="button" class="link-button delete"
          aria-label=${`Delete message from ${m.senderName}`} onClick=${() => remove(m)}>delete</button>`}
        <p class="text">${m.text}</p>
      </li>`)}
    </ol>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${canSend
      ? html`<form class="composer" onSubmit=${(/** @type {Event} */ e) => {
          e.preventDefault();
          send();
        }}>
        <label class="sr-only" for="chat-text">Message</label>
        <textarea id="chat-text" rows="2" maxlength="500" value=${text}
          placeholder=${danmaku ? "Danmaku over the video… (Enter to send)" : "Message… (Enter to send)"}
          onInput=${(/** @type {Event} */ e) => setText(/** @type {HTMLTextAreaElement} */ (e.target).value)}
          onKeyDown=${keydown}></textarea>
        <div class="composer-row">
          <label class="switch"><input type="checkbox" checked=${prefs.asDanmaku} disabled=${!mediaSelected}
            onChange=${(/** @type {Event} */ e) => setPref({ asDanmaku: /** @type {HTMLInputElement} */ (e.target).checked })} />
            Danmaku</label>
          ${danmaku && html`
            <label>Colour <input type="color" aria-label="Danmaku colour" value=${prefs.color}
              onInput=${(/** @type {Event} */ e) => setPref({ color: /** @type {HTMLInputElement} */ (e.target).value })} /></label>
            <label>Position <select aria-label="Danmaku position" value=${prefs.mode}
              onChange=${(/** @type {Event} */ e) => setPref({ mode: /** @type {any} */ (/** @type {HTMLSelectElement} */ (e.target).value) })}>
              <option value="scroll">scroll</option><option value="top">top</option><option value="bottom">bottom</option>
            </select></label>`}
          <button type="submit" class="small send">Send</button>
        </div>
      </form>`
      : html`<p class="aside">${enabled ? "You cannot send messages in this room." : "Chat is turned off in this room."}</p>`}
  </section>`;
}
