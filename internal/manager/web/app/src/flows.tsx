import type { FlowLog } from "./api";

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
