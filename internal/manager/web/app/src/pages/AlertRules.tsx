import { useEffect, useState } from "react";
import { stringify } from "yaml";
import { listResources, testAlert, type AlertTestResult, type Resource, type Whoami } from "../api";
import { CheckNote, EditorActions, useDryRun, useSaveDelete } from "../editing";
import { setParams } from "../route";
import { Empty, ErrorNote } from "../flows";
import { Severity } from "./Alerts";

type Spec = Record<string, unknown>;

const blank: Spec = {
  description: "",
  severity: 50,
  dataSet: "flows",
  query: 'action = "deny"',
  aggregateBy: ["source_namespace"],
  metric: "count",
  condition: "gt",
  threshold: 10,
};

function str(v: unknown): string {
  return v === undefined || v === null ? "" : String(v);
}

/** A duration as the API server writes it ("1h0m0s"), as a person would ("1h"). */
function dur(v: unknown): string {
  return str(v).replace(/([hm])0s$/, "$1").replace(/h0m$/, "h");
}

const dataSets: Record<string, string> = { flows: "flow logs", dns: "DNS logs", audit: "audit logs" };

/** What a rule fires on, in words. */
function firesOn(s: Spec): string {
  const by = (s.aggregateBy as string[] | undefined) ?? [];
  const per = by.length ? ` per ${by.join(", ")}` : "";
  if (!s.metric) return by.length ? `each group with records${per}` : "each record";
  const ops: Record<string, string> = { gt: ">", gte: "≥", lt: "<", lte: "≤", eq: "=", not_eq: "≠" };
  const m = s.metric === "count" ? "count" : `${s.metric}(${str(s.field)})`;
  return `${m} ${ops[str(s.condition)] ?? str(s.condition)} ${str(s.threshold ?? 0)}${per}`;
}

function when(v: unknown): string {
  if (!v) return "not yet";
  return new Date(String(v)).toLocaleString();
}

/** The alert rules (GlobalAlerts): their status, and an editor that tests a rule before it is saved. */
export function AlertRules({ me, url }: { me: Whoami; url: URL }) {
  const editing = url.searchParams.get("edit") ?? "";
  const [items, setItems] = useState<Resource[] | null>(null);
  const [templates, setTemplates] = useState<Resource[]>([]);
  const [error, setError] = useState("");
  const [reload, setReload] = useState(0);
  const [draft, setDraft] = useState<Resource | null>(null);

  useEffect(() => {
    let live = true;
    listResources("GlobalAlert")
      .then((r) => live && setItems(r.items))
      .catch((e: Error) => live && (setError(`${me.user} may not list GlobalAlerts: ${e.message}`), setItems([])));
    listResources("GlobalAlertTemplate")
      .then((r) => live && setTemplates(r.items))
      .catch(() => live && setTemplates([]));
    return () => {
      live = false;
    };
  }, [reload, me.user]);

  const current = items?.find((r) => r.metadata.name === editing);
  const start = (from?: Resource) => {
    setDraft({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalAlert",
      metadata: { name: from ? from.metadata.name : "" },
      spec: JSON.parse(JSON.stringify(from?.spec ?? blank)),
    });
    setParams({ edit: "new" });
  };
  const editorFor = editing === "new" ? draft : current ?? null;
  return (
    <>
      <div className="toolbar">
        <button type="button" onClick={() => start()}>
          New rule
        </button>
        <label>
          New from template
          <select
            value=""
            onChange={(e) => {
              const t = templates.find((x) => x.metadata.name === e.target.value);
              if (t) start(t);
            }}
          >
            <option value="">{templates.length ? "choose…" : "none installed"}</option>
            {templates.map((t) => (
              <option key={t.metadata.name} value={t.metadata.name}>
                {t.metadata.name}: {str(t.spec.summary || t.spec.description).slice(0, 60)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && <ErrorNote error={error} />}
      {editorFor && (
        <RuleEditor
          key={editing + (editorFor.metadata.name || "")}
          initial={editorFor}
          existing={!!current}
          logs={me.logs}
          onDone={(saved) => {
            setParams({ edit: undefined });
            setDraft(null);
            if (saved) setReload(reload + 1);
          }}
        />
      )}
      {items === null && <p className="muted">Loading alert rules…</p>}
      {items !== null && items.length === 0 && !error && (
        <Empty title="No alert rules">
          An alert rule reads flow, DNS or audit logs every period and raises a security event for each group of records that
          meets its condition, such as more than 50 denied connections from one workload in 10 minutes. Start from a template.
        </Empty>
      )}
      {items !== null && items.length > 0 && (
        <div className="table-wrap">
          <table className="flows" aria-label="Alert rules">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Severity</th>
                <th scope="col">Reads</th>
                <th scope="col">Fires on</th>
                <th scope="col">Last run</th>
                <th scope="col">Last event</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => {
                const st = r.status ?? {};
                const errs = (st.errorConditions as { message: string }[] | undefined) ?? [];
                return (
                  <tr key={r.metadata.name}>
                    <td>
                      <strong>{r.metadata.name}</strong>
                      <div className="muted small">{str(r.spec.description || r.spec.summary)}</div>
                    </td>
                    <td>
                      <Severity n={Number(r.spec.severity)} />
                    </td>
                    <td>
                      {dataSets[str(r.spec.dataSet)] ?? str(r.spec.dataSet)}, every {dur(r.spec.period || "5m")}
                      <div className="muted small">
                        <code>{str(r.spec.query) || "all records"}</code>
                      </div>
                    </td>
                    <td>{firesOn(r.spec)}</td>
                    <td>
                      {when(st.lastExecuted)}
                      {errs.length > 0 ? (
                        <div className="error small">✕ {errs[0].message}</div>
                      ) : st.healthy ? (
                        <div className="muted small">✓ healthy</div>
                      ) : null}
                    </td>
                    <td>
                      {st.lastEvent ? (
                        <a href={`/security?origin=${encodeURIComponent(r.metadata.name)}&range=24h`}>{when(st.lastEvent)}</a>
                      ) : (
                        "none"
                      )}
                    </td>
                    <td className="actions">
                      <button type="button" className="ghost" onClick={() => setParams({ edit: r.metadata.name })}>
                        Edit
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function RuleEditor({ initial, existing, logs, onDone }: { initial: Resource; existing: boolean; logs: Record<string, boolean>; onDone: (saved: boolean) => void }) {
  const [obj, setObj] = useState<Resource>(() => ({
    apiVersion: "projectcalico.org/v3",
    kind: "GlobalAlert",
    metadata: existing ? initial.metadata : { name: initial.metadata.name },
    spec: JSON.parse(JSON.stringify(initial.spec)),
  }));
  const [test, setTest] = useState<AlertTestResult | null>(null);
  const [testError, setTestError] = useState("");
  const [testing, setTesting] = useState(false);
  const check = useDryRun(obj);
  const { saveError, busy, save, remove } = useSaveDelete(obj, onDone, `Delete the alert rule ${obj.metadata.name}?`);
  const s = obj.spec;
  const set = (k: string, v: unknown) => {
    const spec = { ...obj.spec };
    if (v === "" || v === undefined || (Array.isArray(v) && v.length === 0)) delete spec[k];
    else spec[k] = v;
    setObj({ ...obj, spec });
    setTest(null);
  };
  const dataLog = { flows: "flows", dns: "dns", audit: "audit_ee" }[str(s.dataSet)] ?? "flows";

  const run = async () => {
    setTesting(true);
    setTestError("");
    setTest(null);
    try {
      setTest(await testAlert(obj.metadata.name || "test", obj.spec));
    } catch (e) {
      setTestError((e as Error).message);
    } finally {
      setTesting(false);
    }
  };

  const shown = { ...obj, metadata: { name: obj.metadata.name } };
  return (
    <form
      className="card editor"
      aria-label={existing ? `Edit ${obj.metadata.name}` : "New alert rule"}
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div className="editor-form">
        <h2>{existing ? `Edit alert rule ${obj.metadata.name}` : "New alert rule"}</h2>
        <label>
          Name
          <input value={obj.metadata.name} disabled={existing} required onChange={(e) => setObj({ ...obj, metadata: { name: e.target.value } })} />
        </label>
        <label>
          Summary (each event's description; ${"{field}"} is a group's value, ${"{count}"} the metric)
          <input value={str(s.summary)} onChange={(e) => set("summary", e.target.value)} />
        </label>
        <label>
          Description
          <input value={str(s.description)} required onChange={(e) => set("description", e.target.value)} />
        </label>
        <div className="form-row">
          <label>
            Severity (1–100)
            <input type="number" min={1} max={100} value={str(s.severity)} onChange={(e) => set("severity", Number(e.target.value))} />
          </label>
          <label>
            Reads
            <select value={str(s.dataSet)} onChange={(e) => set("dataSet", e.target.value)}>
              <option value="flows">flow logs</option>
              <option value="dns">DNS logs</option>
              <option value="audit">audit logs</option>
            </select>
          </label>
          <label>
            Every
            <input value={dur(s.period)} placeholder="5m" onChange={(e) => set("period", e.target.value)} />
          </label>
          <label>
            Looking back
            <input value={dur(s.lookback)} placeholder="10m" onChange={(e) => set("lookback", e.target.value)} />
          </label>
        </div>
        <label>
          Query (the records it reads, e.g. action = "deny" AND dest_namespace = "db")
          <textarea rows={2} value={str(s.query)} onChange={(e) => set("query", e.target.value)} />
        </label>
        <label>
          Group by (fields, comma-separated; each group that fires is one event)
          <input
            value={((s.aggregateBy as string[] | undefined) ?? []).join(", ")}
            onChange={(e) =>
              set(
                "aggregateBy",
                e.target.value
                  .split(",")
                  .map((x) => x.trim())
                  .filter(Boolean),
              )
            }
          />
        </label>
        <div className="form-row">
          <label>
            Metric
            <select value={str(s.metric)} onChange={(e) => set("metric", e.target.value)}>
              <option value="">none: fire on any record</option>
              <option value="count">count</option>
              <option value="sum">sum</option>
              <option value="avg">avg</option>
              <option value="min">min</option>
              <option value="max">max</option>
            </select>
          </label>
          {!!s.metric && s.metric !== "count" && (
            <label>
              Of field
              <input value={str(s.field)} placeholder="bytes_out" onChange={(e) => set("field", e.target.value)} />
            </label>
          )}
          {!!s.metric && (
            <>
              <label>
                Condition
                <select value={str(s.condition)} onChange={(e) => set("condition", e.target.value)}>
                  <option value="gt">&gt;</option>
                  <option value="gte">≥</option>
                  <option value="lt">&lt;</option>
                  <option value="lte">≤</option>
                  <option value="eq">=</option>
                  <option value="not_eq">≠</option>
                </select>
              </label>
              <label>
                Threshold
                <input type="number" value={str(s.threshold ?? 0)} onChange={(e) => set("threshold", e.target.value === "" ? "" : Number(e.target.value))} />
              </label>
            </>
          )}
        </div>
        <CheckNote check={check} />
        {saveError && <ErrorNote error={saveError} />}
        <EditorActions busy={busy} canSave={!!obj.metadata.name} existing={existing} onCancel={() => onDone(false)} onDelete={remove}>
          <button type="button" className="ghost" disabled={testing || !logs[dataLog]} onClick={run} title={logs[dataLog] ? "" : `You may not read ${dataLog} logs`}>
            {testing ? "Testing…" : "Test against recent data"}
          </button>
        </EditorActions>
        {testError && <ErrorNote error={`The test failed: ${testError}`} />}
        {test && <TestResult r={test} />}
      </div>
      <div className="editor-yaml">
        <h3 className="small-title">As YAML</h3>
        <pre aria-label="The rule as YAML">{stringify(shown)}</pre>
      </div>
    </form>
  );
}

function TestResult({ r }: { r: AlertTestResult }) {
  const span = `${new Date(r.from).toLocaleTimeString()} to ${new Date(r.to).toLocaleTimeString()}`;
  if (r.events.length === 0)
    return (
      <p className="check ok" role="status">
        Run now over {span}, the rule would raise no events.
      </p>
    );
  return (
    <div className="test-result" role="status">
      <p>
        Run now over {span}, the rule would raise <strong>{r.events.length}</strong> event{r.events.length === 1 ? "" : "s"}:
      </p>
      <ul>
        {r.events.slice(0, 20).map((e) => (
          <li key={e.id}>{e.description}</li>
        ))}
        {r.events.length > 20 && <li className="muted">and {r.events.length - 20} more</li>}
      </ul>
    </div>
  );
}
