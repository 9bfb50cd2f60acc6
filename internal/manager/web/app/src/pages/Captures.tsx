import { useEffect, useState } from "react";
import { stringify } from "yaml";
import {
  ApiError,
  captureDownloadPath,
  deleteCaptureFiles,
  deleteResource,
  downloadFile,
  listResources,
  putResource,
  type Resource,
  type Whoami,
} from "../api";
import { CheckNote, useDryRun } from "../editing";
import { setParams, useLocation } from "../route";
import { Empty, ErrorNote } from "../flows";

// Packet captures (docs/packet-capture.md): PacketCapture resources,
// written as the user; their files come through the packet capture API
// at /packet-capture/, which checks get/delete on packetcaptures/files.

interface NodeFiles {
  node: string;
  state?: string;
  fileNames?: string[];
}

interface Filter {
  protocol?: string;
  ports?: (number | string)[];
}

const protocols = ["", "TCP", "UDP", "ICMP", "SCTP"];

/** Durations offered for a new capture, in minutes (0: until stopped). */
const durations = [
  { min: 1, label: "1 minute" },
  { min: 5, label: "5 minutes" },
  { min: 15, label: "15 minutes" },
  { min: 60, label: "1 hour" },
  { min: 0, label: "Until stopped" },
];

/** A capture's state over its nodes: the most pressing one. */
function overall(r: Resource): string {
  const files = (r.status?.files as NodeFiles[] | undefined) ?? [];
  const end = r.spec.endTime ? new Date(r.spec.endTime as string) : null;
  const states = new Set(files.map((f) => f.state ?? ""));
  for (const s of ["Error", "Capturing", "WaitingForTraffic", "Scheduled", "Finished"]) if (states.has(s)) return s;
  if (end && end.getTime() <= Date.now()) return "Finished";
  return "NoEndpoints";
}

const stateWords: Record<string, string> = {
  Error: "Error",
  Capturing: "Capturing",
  WaitingForTraffic: "Waiting for traffic",
  Scheduled: "Scheduled",
  Finished: "Finished",
  NoEndpoints: "No pod selected yet",
};

function fileCount(r: Resource): number {
  return ((r.status?.files as NodeFiles[] | undefined) ?? []).reduce((n, f) => n + (f.fileNames?.length ?? 0), 0);
}

function describeFilters(fs: Filter[] | undefined): string {
  if (!fs || fs.length === 0) return "all traffic";
  return fs.map((f) => [f.protocol ?? "any protocol", (f.ports ?? []).join(", ")].filter(Boolean).join(" ")).join("; ");
}

function when(t: unknown): string {
  if (!t) return "";
  const d = new Date(t as string);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function key(r: Resource): string {
  return `${r.metadata.namespace}/${r.metadata.name}`;
}

export function Captures({ me }: { me: Whoami }) {
  const url = useLocation();
  const isNew = url.searchParams.get("new") === "1";
  const [items, setItems] = useState<Resource[] | null>(null);
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  const [reload, setReload] = useState(0);
  const [busy, setBusy] = useState("");

  useEffect(() => {
    let live = true;
    listResources("PacketCapture")
      .then((r) => {
        if (!live) return;
        setItems(r.items.sort((a, b) => key(a).localeCompare(key(b))));
        setError("");
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [reload]);

  // While any capture runs or waits, its state is followed.
  const active = (items ?? []).some((r) => !["Finished", "Error"].includes(overall(r)));
  useEffect(() => {
    if (!active) return;
    const t = window.setInterval(() => setReload((n) => n + 1), 3000);
    return () => window.clearInterval(t);
  }, [active]);

  const act = async (what: string, r: Resource, f: () => Promise<string | void>) => {
    setBusy(`${what} ${key(r)}`);
    setNote("");
    setError("");
    try {
      const msg = await f();
      if (msg) setNote(msg);
      setReload((n) => n + 1);
    } catch (e) {
      setError(e instanceof ApiError ? `${what} ${key(r)}: ${e.message}` : String(e));
    } finally {
      setBusy("");
    }
  };
  const stop = (r: Resource) =>
    act("Stop", r, async () => {
      await putResource({ ...r, spec: { ...r.spec, endTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") } });
      return `${key(r)} stops now; its files stay until you delete them.`;
    });
  const download = (r: Resource) =>
    act("Download", r, () => downloadFile(captureDownloadPath(r.metadata.namespace!, r.metadata.name), `${r.metadata.name}.zip`));
  const deleteFiles = (r: Resource) =>
    act("Delete the files of", r, async () => {
      if (!window.confirm(`Delete the files of ${key(r)} on every node?`)) return;
      const res = await deleteCaptureFiles(r.metadata.namespace!, r.metadata.name);
      const n = Object.values(res.nodes).reduce((a, b) => a + b, 0);
      return `Deleted ${n} file${n === 1 ? "" : "s"} of ${key(r)}.`;
    });
  const remove = (r: Resource) =>
    act("Delete", r, async () => {
      if (!window.confirm(`Delete the capture ${key(r)}? Its files on the nodes go with it.`)) return;
      await deleteResource("PacketCapture", r.metadata.namespace, r.metadata.name);
      return `Deleted ${key(r)}.`;
    });

  return (
    <section aria-labelledby="pc-title">
      <div className="page-head">
        <h1 id="pc-title">Packet captures</h1>
        <button type="button" onClick={() => setParams({ new: "1" })}>
          New capture
        </button>
      </div>
      <p className="muted">
        A capture records the selected pods' packets on their nodes into pcap files, which Wireshark and tcpdump read. Start one here, or
        from a pod on the Endpoints page or a workload in the Service graph.
      </p>
      {isNew && (
        <NewCapture
          namespace={url.searchParams.get("namespace") ?? "default"}
          selector={url.searchParams.get("selector") ?? ""}
          onDone={(created) => {
            setParams({ new: undefined, namespace: undefined, selector: undefined });
            if (created) {
              setNote(`Capture ${created} created; its state follows below.`);
              setReload((n) => n + 1);
            }
          }}
        />
      )}
      {note && (
        <div className="notice" role="status">
          {note}
        </div>
      )}
      {error && <ErrorNote error={error} />}
      {!items && !error && <p className="muted">Loading captures…</p>}
      {items && items.length === 0 && (
        <Empty title="No packet captures">Start a capture to record the packets of a workload while you reproduce a problem.</Empty>
      )}
      {items && items.length > 0 && (
        <div className="table-wrap">
          <table className="flows captures">
            <thead>
              <tr>
                <th scope="col">Capture</th>
                <th scope="col">Pods</th>
                <th scope="col">Packets kept</th>
                <th scope="col">Window</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => {
                const state = overall(r);
                const files = [...((r.status?.files as NodeFiles[] | undefined) ?? [])].sort((a, b) => a.node.localeCompare(b.node));
                const n = fileCount(r);
                const running = !["Finished", "Error"].includes(state);
                const mine = busy.endsWith(" " + key(r));
                return (
                  <tr key={key(r)} data-capture={key(r)}>
                    <td>
                      {r.metadata.namespace}/<strong>{r.metadata.name}</strong>
                    </td>
                    <td>
                      <code>{(r.spec.selector as string) || "all()"}</code>
                    </td>
                    <td>{describeFilters(r.spec.filters as Filter[] | undefined)}</td>
                    <td className="small">
                      {r.spec.startTime ? `from ${when(r.spec.startTime)}` : `from ${when(r.metadata.creationTimestamp)}`}
                      <br />
                      {r.spec.endTime ? `to ${when(r.spec.endTime)}` : "until stopped"}
                    </td>
                    <td>
                      <span className={`capture-state ${state}`}>{stateWords[state] ?? state}</span>
                      <div className="muted small">
                        {n} file{n === 1 ? "" : "s"}
                        {files.length > 0 && ` on ${files.map((f) => `${f.node}${f.state && f.state !== state ? ` (${stateWords[f.state] ?? f.state})` : ""}`).join(", ")}`}
                      </div>
                    </td>
                    <td className="actions">
                      {running && (
                        <button type="button" className="ghost" disabled={mine} onClick={() => stop(r)}>
                          Stop
                        </button>
                      )}
                      <button type="button" className="ghost" disabled={mine || n === 0} title={n === 0 ? "No files yet" : ""} onClick={() => download(r)}>
                        Download
                      </button>
                      {!running && n > 0 && (
                        <button type="button" className="ghost" disabled={mine} onClick={() => deleteFiles(r)}>
                          Delete files
                        </button>
                      )}
                      <button type="button" className="ghost danger-text" disabled={mine} onClick={() => remove(r)}>
                        Delete
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <p className="muted small">
        Signed in as {me.user}. Downloading needs get, and deleting files delete, on packetcaptures/files in the capture's namespace.
      </p>
    </section>
  );
}

interface Draft {
  namespace: string;
  name: string;
  selector: string;
  filters: { protocol: string; ports: string }[];
  minutes: number;
}

/** The PacketCapture a draft describes; its end is minutes after now. */
function fromDraft(d: Draft, now: number): Resource {
  const filters = d.filters
    .filter((f) => f.protocol || f.ports.trim())
    .map((f) => {
      const out: Filter = {};
      if (f.protocol) out.protocol = f.protocol;
      const ports = f.ports
        .split(/[\s,]+/)
        .filter(Boolean)
        .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
      if (ports.length) out.ports = ports;
      return out;
    });
  const spec: Record<string, unknown> = { selector: d.selector.trim() || "all()" };
  if (filters.length) spec.filters = filters;
  if (d.minutes > 0) spec.endTime = new Date(now + d.minutes * 60e3).toISOString().replace(/\.\d+Z$/, "Z");
  return { apiVersion: "projectcalico.org/v3", kind: "PacketCapture", metadata: { name: d.name.trim(), namespace: d.namespace.trim() }, spec };
}

function NewCapture({ namespace, selector, onDone }: { namespace: string; selector: string; onDone: (created: string) => void }) {
  const [d, setD] = useState<Draft>(() => ({
    namespace,
    name: `capture-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-")}`,
    selector,
    filters: [{ protocol: "", ports: "" }],
    minutes: 5,
  }));
  const [opened] = useState(() => Date.now());
  const [saveError, setSaveError] = useState("");
  const [busy, setBusy] = useState(false);
  // Checked as typed by a dry run, with the end as of the form's opening.
  const check = useDryRun(fromDraft(d, opened));
  const setFilter = (i: number, f: Partial<Draft["filters"][number]>) =>
    setD({ ...d, filters: d.filters.map((x, j) => (j === i ? { ...x, ...f } : x)) });
  const save = async () => {
    setBusy(true);
    setSaveError("");
    try {
      await putResource(fromDraft(d, Date.now()));
      onDone(`${d.namespace}/${d.name}`);
    } catch (e) {
      setSaveError(e instanceof ApiError ? `The API server refused: ${e.message}` : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="card editor"
      aria-label="New packet capture"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div className="editor-form">
        <h2>New packet capture</h2>
        <label>
          Namespace
          <input name="namespace" value={d.namespace} onChange={(e) => setD({ ...d, namespace: e.target.value })} required />
        </label>
        <label>
          Name
          <input name="name" value={d.name} onChange={(e) => setD({ ...d, name: e.target.value })} required />
        </label>
        <label>
          Pods (a selector over the namespace's pods' labels)
          <input name="selector" value={d.selector} placeholder="all()" onChange={(e) => setD({ ...d, selector: e.target.value })} />
        </label>
        <fieldset className="capture-filters">
          <legend>Packets to keep (any row matches; none: all)</legend>
          {d.filters.map((f, i) => (
            <div className="capture-filter" key={i}>
              <label>
                Protocol
                <select aria-label={`Filter ${i + 1} protocol`} value={f.protocol} onChange={(e) => setFilter(i, { protocol: e.target.value })}>
                  {protocols.map((p) => (
                    <option key={p} value={p}>
                      {p || "any"}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Ports
                <input
                  aria-label={`Filter ${i + 1} ports`}
                  value={f.ports}
                  placeholder="8080, 9000:9100"
                  onChange={(e) => setFilter(i, { ports: e.target.value })}
                />
              </label>
              {d.filters.length > 1 && (
                <button type="button" className="ghost small-button" onClick={() => setD({ ...d, filters: d.filters.filter((_, j) => j !== i) })}>
                  Remove
                </button>
              )}
            </div>
          ))}
          <button type="button" className="ghost small-button" onClick={() => setD({ ...d, filters: [...d.filters, { protocol: "", ports: "" }] })}>
            Add a filter
          </button>
        </fieldset>
        <label>
          Duration
          <select name="duration" value={d.minutes} onChange={(e) => setD({ ...d, minutes: Number(e.target.value) })}>
            {durations.map((x) => (
              <option key={x.min} value={x.min}>
                {x.label}
              </option>
            ))}
          </select>
        </label>
        <CheckNote check={check} />
        {saveError && <ErrorNote error={saveError} />}
        <div className="editor-actions">
          <button type="submit" disabled={busy || !d.name.trim() || !d.namespace.trim()}>
            {busy ? "Starting…" : "Start capture"}
          </button>
          <button type="button" className="ghost" onClick={() => onDone("")}>
            Cancel
          </button>
        </div>
      </div>
      <div className="editor-yaml">
        <h3 className="small-title">As YAML</h3>
        <pre aria-label="The object as YAML">{stringify(fromDraft(d, opened))}</pre>
      </div>
    </form>
  );
}

/** The link that starts a capture of pods with these labels. */
export function captureLink(namespace: string, labels: Record<string, string>): string {
  const sel = Object.entries(labels)
    .filter(([k]) => !/^(projectcalico\.org\/|pcns\.|pcsa\.)/.test(k) && k !== "pod-template-hash")
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} == "${v}"`)
    .join(" && ");
  return `/captures?new=1&namespace=${encodeURIComponent(namespace)}&selector=${encodeURIComponent(sel)}`;
}
