import { useEffect, useState } from "react";
import type { FlowLog } from "./api";
import { setParams } from "./route";

// Shared pieces of the pages that show flows.

/** One entry of a flow log's policies: "order|tier|name|action|rule". */
export interface PolicyHit {
  order: number;
  tier: string;
  name: string;
  action: string;
  rule: string;
}

export function parsePolicy(s: string): PolicyHit {
  const [order, tier, name, action, rule] = s.split("|");
  return { order: Number(order), tier, name, action, rule };
}

/** The policy that decided a flow: the last enforced one. */
export function deciding(f: FlowLog): PolicyHit | null {
  const e = f.policies?.enforced_policies ?? [];
  if (e.length === 0) return null;
  return e.map(parsePolicy).sort((a, b) => a.order - b.order)[e.length - 1];
}

export function ruleLabel(p: { rule: string }): string {
  return p.rule === "-1" ? "no rule matched: the tier's default" : `rule ${p.rule}`;
}

/** Flow log times are Unix seconds (Calico's format); RFC 3339 is accepted too. */
export function time(t: number | string): Date {
  return typeof t === "number" ? new Date(t * 1000) : new Date(t);
}

export function endpointLabel(type: string, ns: string, name: string): string {
  if (ns && ns !== "-") return `${ns}/${name}`;
  if (type === "net") return name === "pub" ? "the internet" : name === "pvt" ? "private network" : name;
  return name;
}

export function Verdict({ action }: { action: string }) {
  const denied = action === "deny";
  return (
    <span className={`verdict ${denied ? "denied" : "allowed"}`}>
      <span aria-hidden="true">{denied ? "✕" : "✓"}</span> {denied ? "Denied" : "Allowed"}
    </span>
  );
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}

export function Empty({ title, children }: { title: string; children?: React.ReactNode }) {
  return (
    <div className="empty" role="status">
      <strong>{title}</strong>
      {children && <p>{children}</p>}
    </div>
  );
}

export function ErrorNote({ error }: { error: string }) {
  return (
    <div className="notice error" role="alert">
      {error}
    </div>
  );
}

/** What a user without flow access sees instead of flows. */
export function NoFlowAccess({ user }: { user: string }) {
  return (
    <Empty title="You may not see flow logs">
      {user} needs <code>get</code> on <code>lma.tigera.io</code> resource <code>cluster</code>, resourceName{" "}
      <code>flows</code>. Ask a cluster administrator for it.
    </Empty>
  );
}

/** A page key: Linseed's after_key, null for the first page. */
export type PageKey = Record<string, unknown> | null;

/**
 * Paging over Linseed's after_key: the keys of the pages seen (so
 * Previous needs no refetch), reset when the query's key changes. after
 * is the page to fetch; setNext records the page after it.
 */
export function usePages(queryKey: string) {
  const [keys, setKeys] = useState<PageKey[]>([null]);
  const [next, setNext] = useState<PageKey>(null);
  useEffect(() => setKeys([null]), [queryKey]);
  return {
    after: keys[keys.length - 1],
    page: keys.length,
    setNext,
    pager: (
      <div className="pager">
        <button type="button" className="ghost" disabled={keys.length < 2} onClick={() => setKeys(keys.slice(0, -1))}>
          ← Previous
        </button>
        <button type="button" className="ghost" disabled={!next} onClick={() => next && setKeys([...keys, next])}>
          Next →
        </button>
      </div>
    ),
  };
}

/** The inputs a FilterForm offers its fields. */
export interface FilterInputs {
  field: (name: string, label: string, placeholder: string) => React.ReactNode;
  select: (name: string, label: string, options: [string, string][]) => React.ReactNode;
}

/**
 * A filter form over the URL's parameters: text fields apply on Apply,
 * selects at once, Clear removes them all.
 */
export function FilterForm({ url, filters, label, children }: {
  url: URL;
  filters: readonly string[];
  label: string;
  children: (inputs: FilterInputs) => React.ReactNode;
}) {
  const [draft, setDraft] = useState<Record<string, string>>({});
  useEffect(() => {
    const d: Record<string, string> = {};
    for (const f of filters) d[f] = url.searchParams.get(f) ?? "";
    setDraft(d);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url.search]);
  const inputs: FilterInputs = {
    field: (name, label, placeholder) => (
      <label>
        {label}
        <input name={name} value={draft[name] ?? ""} placeholder={placeholder} onChange={(e) => setDraft({ ...draft, [name]: e.target.value })} />
      </label>
    ),
    select: (name, label, options) => (
      <label>
        {label}
        <select name={name} value={draft[name] ?? ""} onChange={(e) => setParams({ ...draft, [name]: e.target.value })}>
          {options.map(([v, l]) => (
            <option key={v} value={v}>
              {l}
            </option>
          ))}
        </select>
      </label>
    ),
  };
  return (
    <form
      className="filters"
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        setParams(draft);
      }}
    >
      {children(inputs)}
      <button type="submit">Apply</button>
      <button type="button" className="ghost" onClick={() => setParams(Object.fromEntries(filters.map((f) => [f, undefined])))}>
        Clear
      </button>
    </form>
  );
}
