import { useEffect, useMemo, useState } from "react";
import { stringify } from "yaml";
import {
  ApiError,
  deleteResource,
  policyBoard,
  previewPolicies,
  promQuery,
  putResource,
  type BoardCard,
  type BoardTier,
  type PreviewResult,
  type Resource,
  type Whoami,
} from "../api";
import { setParams, useLocation } from "../route";
import { CheckNote, OrderInput, useDryRun, useYamlDraft } from "../editing";
import { Empty, ErrorNote } from "../flows";

type Counts = Record<string, { allow: number; deny: number; pass: number }>;

const kindShort: Record<string, string> = {
  GlobalNetworkPolicy: "global",
  NetworkPolicy: "namespaced",
  StagedGlobalNetworkPolicy: "staged global",
  StagedNetworkPolicy: "staged",
  StagedKubernetesNetworkPolicy: "staged k8s",
};

function cardKey(c: { kind: string; namespace?: string; name: string }) {
  return `${c.kind}/${c.namespace ?? ""}/${c.name}`;
}

/** The object as the editor shows it: without what the API server keeps for itself. */
function editable(r: Resource): Resource {
  const copy = JSON.parse(JSON.stringify(r)) as Resource;
  const m = copy.metadata as Record<string, unknown>;
  for (const k of ["managedFields", "uid", "generation", "creationTimestamp"]) delete m[k];
  const a = m.annotations as Record<string, string> | undefined;
  if (a) delete a["kubectl.kubernetes.io/last-applied-configuration"];
  return { ...copy, apiVersion: "projectcalico.org/v3" };
}

function template(tier: string): Resource {
  const name = tier === "default" ? "new-policy" : `${tier}.new-policy`;
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkPolicy",
    metadata: { name, namespace: "default" },
    spec: { tier, order: 100, selector: "all()", types: ["Ingress"], ingress: [{ action: "Allow", source: { selector: "all()" } }] },
  };
}

function tierTemplate(): Resource {
  return { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "new-tier" }, spec: { order: 500, defaultAction: "Deny" } };
}

/** The staged twin of an enforced policy, or the enforced one of a staged policy. */
function staged(r: Resource): Resource {
  const o = editable(r);
  delete o.metadata.resourceVersion;
  return { ...o, kind: `Staged${o.kind}`, spec: { ...o.spec, stagedAction: "Set" } };
}

function enforced(r: Resource): Resource {
  const o = editable(r);
  delete o.metadata.resourceVersion;
  const spec = { ...o.spec };
  delete spec.stagedAction;
  return { ...o, kind: o.kind.replace(/^Staged/, ""), spec };
}

export function PolicyBoard({ me }: { me: Whoami }) {
  const url = useLocation();
  const rangeKey = url.searchParams.get("range") ?? "1h";
  const search = url.searchParams.get("q") ?? "";
  const [tiers, setTiers] = useState<BoardTier[] | null>(null);
  const [cards, setCards] = useState<BoardCard[]>([]);
  const [hidden, setHidden] = useState<string[]>([]);
  const [counts, setCounts] = useState<Counts | null>(null);
  const [countsNote, setCountsNote] = useState("");
  const [error, setError] = useState("");
  const [editing, setEditing] = useState<{ initial: Resource; existing: boolean } | null>(null);
  const [reload, setReload] = useState(0);
  const [draft, setDraft] = useState(search);
  const [editingTier, setEditingTier] = useState<Resource | null>(null);

  useEffect(() => {
    let live = true;
    policyBoard()
      .then((b) => {
        if (!live) return;
        setTiers(b.tiers);
        setCards(b.policies);
        setHidden(b.hidden);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [reload]);

  useEffect(() => {
    let live = true;
    promQuery(`sum by (namespace, policy, action) (increase(cnx_policy_rule_packets[${rangeKey}]))`)
      .then((rs) => {
        if (!live) return;
        const c: Counts = {};
        for (const r of rs) {
          const k = `${r.metric.namespace === "__GLOBAL__" ? "" : r.metric.namespace}/${r.metric.policy}`;
          c[k] ??= { allow: 0, deny: 0, pass: 0 };
          const a = r.metric.action as "allow" | "deny" | "pass";
          if (a in c[k]) c[k][a] += Math.round(Number(r.value[1]));
        }
        setCounts(c);
        setCountsNote("");
      })
      .catch((e: Error) => {
        if (!live) return;
        setCounts(null);
        setCountsNote(e instanceof ApiError && e.status === 403 ? "Live counters need metrics access (calico-metrics-viewer)." : `Live counters are unavailable: ${e.message}`);
      });
    return () => {
      live = false;
    };
  }, [rangeKey, reload]);

  const columns = useMemo(() => {
    const ts = [...(tiers ?? [])].sort((a, b) => (a.order ?? Infinity) - (b.order ?? Infinity) || a.name.localeCompare(b.name));
    const q = search.toLowerCase();
    const match = (c: BoardCard) =>
      !q ||
      c.name.toLowerCase().includes(q) ||
      (c.namespace ?? "").toLowerCase().includes(q) ||
      c.kind.toLowerCase().includes(q) ||
      (c.selector ?? "").toLowerCase().includes(q) ||
      Object.entries(c.object.metadata.labels ?? {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(q));
    return ts.map((t) => ({
      tier: t,
      cards: cards
        .filter((c) => c.tier === t.name && match(c))
        .sort((a, b) => (a.order ?? Infinity) - (b.order ?? Infinity) || a.name.localeCompare(b.name)),
    }));
  }, [tiers, cards, search]);

  const act = async (what: string, f: () => Promise<unknown>) => {
    setError("");
    try {
      await f();
      setReload((r) => r + 1);
    } catch (e) {
      setError(`${what}: the API server refused: ${(e as Error).message}`);
    }
  };

  // Moving a card swaps its order with its neighbour's; policies without
  // an order get the orders they sort by first, 100 apart.
  const move = (tierCards: BoardCard[], i: number, by: -1 | 1) =>
    act("Reordering", async () => {
      const j = i + by;
      if (j < 0 || j >= tierCards.length) return;
      const orders = tierCards.map((c, k) => c.order ?? (k + 1) * 100);
      const distinct = new Set(orders).size === orders.length;
      const next = distinct ? [...orders] : tierCards.map((_, k) => (k + 1) * 100);
      [next[i], next[j]] = [next[j], next[i]];
      for (const [k, c] of tierCards.entries()) {
        if (c.order === next[k]) continue;
        await putResource({ ...editable(c.object), spec: { ...c.object.spec, order: next[k] } });
      }
    });

  const enforce = (c: BoardCard) =>
    act("Enforcing", async () => {
      if (c.staged_action === "Delete") {
        await deleteResource(c.kind.replace(/^Staged/, ""), c.namespace, c.name).catch((e: ApiError) => {
          if (e.status !== 404) throw e;
        });
      } else {
        const target = enforced(c.object);
        const current = cards.find((x) => cardKey(x) === cardKey({ kind: target.kind, namespace: c.namespace, name: c.name }));
        if (current) target.metadata.resourceVersion = current.object.metadata.resourceVersion;
        await putResource(target);
      }
      await deleteResource(c.kind, c.namespace, c.name);
    });

  const deleteTier = (t: BoardTier) =>
    window.confirm(`Delete tier ${t.name}? The API server refuses while policies are in it.`) &&
    act(`Deleting tier ${t.name}`, () => deleteResource("Tier", undefined, t.name));

  if (error && !tiers) return <ErrorNote error={error} />;
  return (
    <section aria-labelledby="pb-title">
      <div className="page-head">
        <h1 id="pb-title">Policies</h1>
        <form
          className="inline-search"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            setParams({ q: draft });
          }}
        >
          <label>
            <span className="visually-hidden">Search policies</span>
            <input value={draft} placeholder="name, namespace, kind, label, selector" onChange={(e) => setDraft(e.target.value)} />
          </label>
        </form>
        <button type="button" className="ghost" onClick={() => setEditingTier(tierTemplate())}>
          New tier
        </button>
      </div>
      {hidden.length > 0 && <div className="notice">{me.user} may not list {hidden.join(", ")}; those are not on the board.</div>}
      {countsNote && <div className="notice">{countsNote}</div>}
      {error && <ErrorNote error={error} />}
      {editingTier && (
        <TierEditor
          key={editingTier.metadata.name}
          initial={editingTier}
          existing={!!editingTier.metadata.resourceVersion}
          onDone={(saved) => {
            setEditingTier(null);
            if (saved) setReload((r) => r + 1);
          }}
        />
      )}
      {editing && (
        <PolicyEditor
          key={JSON.stringify(editing.initial.metadata)}
          initial={editing.initial}
          existing={editing.existing}
          onDone={(saved) => {
            setEditing(null);
            if (saved) setReload((r) => r + 1);
          }}
        />
      )}
      {!tiers && <p className="muted">Loading policies…</p>}
      {tiers && tiers.length === 0 && <Empty title="No tiers">The built-in tiers appear once Calico's resources are installed.</Empty>}
      <div className="board" role="list" aria-label="Tiers, in the order they are evaluated">
        {columns.map(({ tier, cards: tc }) => (
          <section key={tier.name} className="tier-column" role="listitem" aria-label={`tier ${tier.name}`}>
            <header>
              <h2>{tier.name}</h2>
              <span className="muted small">
                order {tier.order ?? "last"} · then {tier.default_action ?? "Deny"}
              </span>
              <div className="tier-actions">
                <button type="button" className="ghost small-button" onClick={() => setEditing({ initial: template(tier.name), existing: false })}>
                  New policy
                </button>
                <button type="button" className="ghost small-button" aria-label={`Edit tier ${tier.name}`} onClick={() => setEditingTier(editable(tier.object))}>
                  Edit tier
                </button>
                {tier.name !== "default" && (
                  <button type="button" className="ghost small-button danger" aria-label={`Delete tier ${tier.name}`} onClick={() => deleteTier(tier)}>
                    Delete tier
                  </button>
                )}
              </div>
            </header>
            {tc.length === 0 && <p className="muted small">No policies{search ? " match" : ""}.</p>}
            <ol className="cards-list">
              {tc.map((c, i) => {
                const n = counts?.[`${c.namespace ?? ""}/${c.name}`];
                const isStaged = c.kind.startsWith("Staged");
                return (
                  <li key={cardKey(c)} className={`policy-card${isStaged ? " staged" : ""}`} aria-label={`${kindShort[c.kind] ?? c.kind} policy ${c.namespace ? c.namespace + "/" : ""}${c.name}`}>
                    <div className="card-title">
                      <strong>{c.name}</strong>
                      <span className="badge">{kindShort[c.kind] ?? c.kind}</span>
                      {isStaged && c.staged_action && c.staged_action !== "Set" && <span className="badge">{c.staged_action}</span>}
                    </div>
                    <div className="muted small">
                      {c.namespace ? `${c.namespace} · ` : ""}order {c.order ?? "—"} · {c.selector || "all()"}
                    </div>
                    <div className="muted small">
                      {(c.types ?? []).join(", ") || "—"} · {c.ingress_rules} ingress, {c.egress_rules} egress rules
                    </div>
                    {!isStaged && (
                      <div className="counters" aria-label="Packets in the time range">
                        {n ? (
                          <>
                            <span className="count allow">✓ {n.allow}</span>
                            <span className="count deny">✕ {n.deny}</span>
                            <span className="count pass">↷ {n.pass}</span>
                          </>
                        ) : (
                          <span className="muted small">{counts ? "no traffic" : ""}</span>
                        )}
                      </div>
                    )}
                    <div className="card-actions">
                      <button type="button" className="ghost" onClick={() => setEditing({ initial: editable(c.object), existing: true })}>
                        Edit
                      </button>
                      {isStaged ? (
                        <button type="button" onClick={() => enforce(c)}>
                          Enforce
                        </button>
                      ) : (
                        <button type="button" className="ghost" onClick={() => act("Staging", () => putResource(staged(c.object)))}>
                          Stage a copy
                        </button>
                      )}
                      <button type="button" className="ghost" aria-label={`Move ${c.name} up`} disabled={i === 0} onClick={() => move(tc, i, -1)}>
                        ↑
                      </button>
                      <button type="button" className="ghost" aria-label={`Move ${c.name} down`} disabled={i === tc.length - 1} onClick={() => move(tc, i, 1)}>
                        ↓
                      </button>
                      <button
                        type="button"
                        className="ghost danger"
                        onClick={() => window.confirm(`Delete ${c.kind} ${c.name}?`) && act("Deleting", () => deleteResource(c.kind, c.namespace, c.name))}
                      >
                        Delete
                      </button>
                    </div>
                  </li>
                );
              })}
            </ol>
          </section>
        ))}
      </div>
    </section>
  );
}

const namespacedKinds = ["NetworkPolicy", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy"];

function PolicyEditor({ initial, existing, onDone }: { initial: Resource; existing: boolean; onDone: (saved: boolean) => void }) {
  const { text, setText, obj, parseError, set } = useYamlDraft(initial);
  const check = useDryRun(obj);
  const [saveError, setSaveError] = useState("");
  const [preview, setPreview] = useState<PreviewResult | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [hours, setHours] = useState(1);

  const save = async (o: Resource) => {
    setSaveError("");
    try {
      await putResource(o);
      onDone(true);
    } catch (e) {
      setSaveError(`The API server refused: ${(e as Error).message}`);
    }
  };

  const spec = (obj?.spec ?? {}) as Record<string, unknown>;
  const types = (spec.types as string[] | undefined) ?? [];
  return (
    <div className="card editor policy-editor" role="region" aria-label={existing ? `Edit ${obj?.metadata.name ?? ""}` : "New policy"}>
      <div className="editor-form">
        <h2>{existing ? `Edit ${initial.kind} ${initial.metadata.name}` : "New policy"}</h2>
        <fieldset disabled={!obj}>
          <label>
            Kind
            <select value={obj?.kind ?? ""} disabled={existing} onChange={(e) => set((o) => (o.kind = e.target.value))}>
              {Object.keys(kindShort).map((k) => (
                <option key={k}>{k}</option>
              ))}
            </select>
          </label>
          {obj && namespacedKinds.includes(obj.kind) && (
            <label>
              Namespace
              <input value={obj.metadata.namespace ?? ""} disabled={existing} onChange={(e) => set((o) => (o.metadata.namespace = e.target.value))} />
            </label>
          )}
          <label>
            Name
            <input value={obj?.metadata.name ?? ""} disabled={existing} onChange={(e) => set((o) => (o.metadata.name = e.target.value))} />
          </label>
          <label>
            Tier
            <input value={(spec.tier as string) ?? ""} onChange={(e) => set((o) => (o.spec.tier = e.target.value))} />
          </label>
          <OrderInput obj={obj} set={set} />
          <label>
            Selector
            <input value={(spec.selector as string) ?? ""} onChange={(e) => set((o) => (o.spec.selector = e.target.value))} />
          </label>
          <div className="types" role="group" aria-label="Applies to">
            {["Ingress", "Egress"].map((t) => (
              <label key={t} className="check-label">
                <input
                  type="checkbox"
                  checked={types.includes(t)}
                  onChange={(e) => set((o) => (o.spec.types = e.target.checked ? [...types, t] : types.filter((x) => x !== t)))}
                />
                {t}
              </label>
            ))}
          </div>
          <p className="muted small">Rules are edited in the YAML.</p>
        </fieldset>
        {parseError && <ErrorNote error={`The YAML does not parse: ${parseError}`} />}
        <CheckNote check={check} />
        {saveError && <ErrorNote error={saveError} />}
        <div className="editor-actions">
          <button type="button" disabled={!obj} onClick={() => obj && save(obj)}>
            Save
          </button>
          {obj && !obj.kind.startsWith("Staged") && (
            <button type="button" className="ghost" onClick={() => obj && save(staged(obj))}>
              Save as staged
            </button>
          )}
          <label className="check-label">
            Replay the last
            <select value={hours} onChange={(e) => setHours(Number(e.target.value))}>
              {[1, 6, 24].map((h) => (
                <option key={h} value={h}>
                  {h} h
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            className="ghost"
            disabled={!obj || previewing}
            onClick={async () => {
              if (!obj) return;
              setPreviewing(true);
              setSaveError("");
              try {
                setPreview(await previewPolicies({ hours, changes: [stringify(enforced(obj))] }));
              } catch (e) {
                setSaveError(`Preview: ${(e as Error).message}`);
              } finally {
                setPreviewing(false);
              }
            }}
          >
            {previewing ? "Replaying…" : "Preview"}
          </button>
          <button type="button" className="ghost" onClick={() => onDone(false)}>
            Cancel
          </button>
        </div>
        {preview && <PreviewTable p={preview} />}
      </div>
      <div className="editor-yaml">
        <label htmlFor="policy-yaml" className="small-title">
          YAML
        </label>
        <textarea id="policy-yaml" name="yaml" spellCheck={false} value={text} onChange={(e) => setText(e.target.value)} rows={24} />
      </div>
    </div>
  );
}

function PreviewTable({ p }: { p: PreviewResult }) {
  return (
    <div className="preview" aria-live="polite">
      <h3 className="small-title">Preview: the last {p.hours} h of recorded flows</h3>
      <p className="muted small">
        {p.flows} flows in {p.groups} groups replayed in {p.took}
        {p.skipped > 0 ? `; ${p.skipped} could not be (their endpoints are gone)` : ""}.
      </p>
      {p.changed.length === 0 ? (
        <p>No recorded flow would change verdict.</p>
      ) : (
        <table className="flows preview-table" aria-label="Flows that would change verdict">
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">Destination</th>
              <th scope="col">Port</th>
              <th scope="col">Flows</th>
              <th scope="col">Verdict</th>
              <th scope="col">Decided by</th>
            </tr>
          </thead>
          <tbody>
            {p.changed.map((c, i) => (
              <tr key={i}>
                <td>{c.source}</td>
                <td>{c.destination}</td>
                <td>
                  {c.protocol}/{c.port}
                </td>
                <td>{c.flows}</td>
                <td>
                  <span className={`verdict ${c.before === "Deny" ? "denied" : "allowed"}`}>{c.before}</span> →{" "}
                  <span className={`verdict ${c.after === "Deny" ? "denied" : "allowed"}`}>{c.after}</span>
                </td>
                <td>{c.decided_by}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/**
 * A tier: its name, order and what happens to traffic no policy in it
 * decided (Deny, or Pass to the next tier), beside its YAML, checked as
 * typed with a dry run as the user.
 */
function TierEditor({ initial, existing, onDone }: { initial: Resource; existing: boolean; onDone: (saved: boolean) => void }) {
  const { text, setText, obj, parseError, set } = useYamlDraft(initial);
  const check = useDryRun(obj);
  const [saveError, setSaveError] = useState("");

  const spec = (obj?.spec ?? {}) as Record<string, unknown>;
  return (
    <div className="card editor policy-editor" role="region" aria-label={existing ? `Edit tier ${initial.metadata.name}` : "New tier"}>
      <div className="editor-form">
        <h2>{existing ? `Edit tier ${initial.metadata.name}` : "New tier"}</h2>
        <fieldset disabled={!obj}>
          <label>
            Name
            <input value={obj?.metadata.name ?? ""} disabled={existing} onChange={(e) => set((o) => (o.metadata.name = e.target.value))} />
          </label>
          <OrderInput obj={obj} set={set} hint="lower is evaluated first" />
          <label>
            When no policy in it decides
            <select value={(spec.defaultAction as string) ?? "Deny"} onChange={(e) => set((o) => (o.spec.defaultAction = e.target.value))}>
              <option value="Deny">Deny</option>
              <option value="Pass">Pass to the next tier</option>
            </select>
          </label>
        </fieldset>
        {parseError && <ErrorNote error={`The YAML does not parse: ${parseError}`} />}
        <CheckNote check={check} />
        {saveError && <ErrorNote error={saveError} />}
        <div className="editor-actions">
          <button
            type="button"
            disabled={!obj}
            onClick={async () => {
              if (!obj) return;
              setSaveError("");
              try {
                await putResource(obj);
                onDone(true);
              } catch (e) {
                setSaveError(`The API server refused: ${(e as Error).message}`);
              }
            }}
          >
            Save
          </button>
          <button type="button" className="ghost" onClick={() => onDone(false)}>
            Cancel
          </button>
        </div>
      </div>
      <div className="editor-yaml">
        <label htmlFor="tier-yaml" className="small-title">
          YAML
        </label>
        <textarea id="tier-yaml" name="yaml" spellCheck={false} value={text} onChange={(e) => setText(e.target.value)} rows={12} />
      </div>
    </div>
  );
}
