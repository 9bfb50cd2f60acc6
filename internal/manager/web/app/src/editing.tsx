// Editing an object as the user: the YAML draft and the API server's
// verdict on it, checked as typed.
import { useEffect, useRef, useState } from "react";
import { parse, stringify } from "yaml";
import { ApiError, deleteResource, putResource, type Resource } from "./api";

export type Check = { ok: boolean; msg: string } | null;

/**
 * The API server's answer to a dry-run write of obj as the user,
 * debounced while it changes; null while there is nothing to check.
 */
export function useDryRun(obj: Resource | null): Check {
  const [check, setCheck] = useState<Check>(null);
  const timer = useRef<number | undefined>(undefined);
  const key = obj ? JSON.stringify(obj) : "";
  useEffect(() => {
    window.clearTimeout(timer.current);
    if (!obj || !obj.metadata.name) {
      setCheck(null);
      return;
    }
    const o = obj;
    timer.current = window.setTimeout(() => {
      putResource(o, true)
        .then(() => setCheck({ ok: true, msg: "The API server accepts this." }))
        .catch((e: Error) => setCheck({ ok: false, msg: e.message }));
    }, 400);
    return () => window.clearTimeout(timer.current);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return check;
}

/**
 * An object edited as YAML: the text, the object it parses to (null and
 * why, when it does not), and set, which changes the object through a
 * function and rewrites the text.
 */
export function useYamlDraft(initial: Resource) {
  const [text, setText] = useState(() => stringify(initial));
  let obj: Resource | null = null;
  let parseError = "";
  try {
    obj = parse(text) as Resource;
    if (!obj || typeof obj !== "object" || !obj.metadata || !obj.spec) throw new Error("needs kind, metadata and spec");
  } catch (e) {
    obj = null;
    parseError = (e as Error).message;
  }
  const current = obj;
  const set = (f: (o: Resource) => void) => {
    if (!current) return;
    const o = JSON.parse(JSON.stringify(current)) as Resource;
    f(o);
    setText(stringify(o));
  };
  return { text, setText, obj, parseError, set };
}

/** The API server's verdict on the draft, as the editors show it. */
export function CheckNote({ check }: { check: Check }) {
  if (!check) return null;
  return (
    <p className={check.ok ? "check ok" : "check bad"} role="status">
      {check.ok ? "✓ " : "✕ "}
      {check.msg}
    </p>
  );
}

/** A policy's or tier's order: a number, or none (evaluated last). */
export function OrderInput({ obj, set, hint }: { obj: Resource | null; set: (f: (o: Resource) => void) => void; hint?: string }) {
  const order = obj?.spec.order;
  return (
    <label>
      Order{hint && <span className="muted small"> ({hint})</span>}
      <input
        inputMode="decimal"
        value={order === undefined ? "" : String(order)}
        onChange={(e) =>
          set((o) => {
            if (e.target.value === "") delete o.spec.order;
            else o.spec.order = Number(e.target.value);
          })
        }
      />
    </label>
  );
}

/**
 * Saving and deleting an object as the user, for the editors: the API
 * server's refusal is shown as it said it; onDone(true) after a change.
 */
export function useSaveDelete(obj: Resource, onDone: (saved: boolean) => void, deleteQuestion: string) {
  const [saveError, setSaveError] = useState("");
  const [busy, setBusy] = useState(false);
  const save = async () => {
    setBusy(true);
    setSaveError("");
    try {
      await putResource(obj);
      onDone(true);
    } catch (e) {
      setSaveError(e instanceof ApiError ? `The API server refused: ${e.message}` : String(e));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!window.confirm(deleteQuestion)) return;
    try {
      await deleteResource(obj.kind, obj.metadata.namespace, obj.metadata.name);
      onDone(true);
    } catch (e) {
      setSaveError(`The API server refused: ${(e as Error).message}`);
    }
  };
  return { saveError, busy, save, remove };
}

/** An editor's buttons: Save, any extra ones, Cancel, and Delete for an existing object. */
export function EditorActions({ busy, canSave, existing, onCancel, onDelete, children }: {
  busy: boolean;
  canSave: boolean;
  existing: boolean;
  onCancel: () => void;
  onDelete: () => void;
  children?: React.ReactNode;
}) {
  return (
    <div className="editor-actions">
      <button type="submit" disabled={busy || !canSave}>
        {busy ? "Saving…" : "Save"}
      </button>
      {children}
      <button type="button" className="ghost" onClick={onCancel}>
        Cancel
      </button>
      {existing && (
        <button type="button" className="ghost danger" onClick={onDelete}>
          Delete
        </button>
      )}
    </div>
  );
}
