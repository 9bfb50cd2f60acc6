// The UI API: every call carries the user's token, kept for the browser
// tab's life only (sessionStorage), so closing the tab logs out.

const tokenKey = "calico-console-token";

export function token(): string | null {
  return sessionStorage.getItem(tokenKey);
}

export function setToken(t: string | null) {
  if (t) sessionStorage.setItem(tokenKey, t);
  else sessionStorage.removeItem(tokenKey);
}

/** An API error, with the server's own words. */
export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown, tok = token()): Promise<T> {
  const headers: Record<string, string> = {};
  if (tok) headers["Authorization"] = `Bearer ${tok}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text as the message
  }
  if (!resp.ok) {
    const msg = (data as { error?: string } | undefined)?.error ?? (text || resp.statusText);
    if (resp.status === 401) window.dispatchEvent(new CustomEvent("calico-unauthenticated", { detail: msg }));
    throw new ApiError(resp.status, msg);
  }
  return data as T;
}

export interface Whoami {
  user: string;
  groups: string[];
  logs: Record<string, boolean>;
}

export const whoami = (tok?: string) => call<Whoami>("GET", "/api/whoami", undefined, tok ?? token());

export interface FlowQuery {
  from?: string;
  to?: string;
  namespace?: string;
  name?: string;
  source_namespace?: string;
  source_name?: string;
  dest_namespace?: string;
  dest_name?: string;
  action?: string;
  reporter?: string;
  policy?: string;
  port?: number;
  page_size?: number;
  after_key?: Record<string, unknown> | null;
  sort?: string;
  desc?: boolean;
  focus?: string;
}

export interface FlowLog {
  start_time: number;
  end_time: number;
  action: string;
  reporter: string;
  proto: string;
  source_type: string;
  source_namespace: string;
  source_name_aggr: string;
  source_ip?: string | null;
  dest_type: string;
  dest_namespace: string;
  dest_name_aggr: string;
  dest_ip?: string | null;
  dest_port?: number | null;
  dest_service_name?: string | null;
  dest_domains?: string[] | null;
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
  num_flows: number;
  policies?: { enforced_policies?: string[] | null; pending_policies?: string[] | null } | null;
  host?: string;
}

export interface FlowPage {
  items: FlowLog[];
  after_key: Record<string, unknown> | null;
  total_hits: number;
}

export const flowLogs = (q: FlowQuery) => call<FlowPage>("POST", "/api/flows/logs", q);

export interface DNSQuery {
  from?: string;
  to?: string;
  namespace?: string;
  name?: string;
  qname?: string;
  rcode?: string;
  page_size?: number;
  after_key?: Record<string, unknown> | null;
}

export interface DNSLog {
  start_time: string;
  end_time: string;
  type: string;
  count: number;
  client_ip?: string | null;
  client_name: string;
  client_name_aggr: string;
  client_namespace: string;
  servers?: { name: string; namespace: string; ip: string }[] | null;
  qname: string;
  qtype: string;
  qclass: string;
  rcode: string;
  rrsets?: { name: string; type: string; class: string; rdata: string[] }[] | null;
  latency_count: number;
  latency_mean?: number | null;
  latency_max?: number | null;
  host?: string;
}

export interface DNSPage {
  items: DNSLog[];
  after_key: Record<string, unknown> | null;
  total_hits: number;
}

export const dnsLogs = (q: DNSQuery) => call<DNSPage>("POST", "/api/dns/logs", q);

export interface GraphNode {
  id: string;
  kind: "namespace" | "workload" | "network";
  namespace?: string;
  name: string;
  drillable?: boolean;
}

export interface GraphEdge {
  source: string;
  target: string;
  allowed: number;
  denied: number;
  bytes: number;
  ports: number[];
}

export interface Graph {
  focus?: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export const flowGraph = (q: FlowQuery) => call<Graph>("POST", "/api/flows/graph", q);

export interface Bucket {
  start: string;
  end: string;
  allowed: number;
  denied: number;
  bytes: number;
}

export interface DeniedGroup {
  source_namespace: string;
  source_name: string;
  dest_namespace: string;
  dest_name: string;
  port: number;
  policy: string;
  flows: number;
}

export const flowSummary = (q: FlowQuery & { buckets?: number }) =>
  call<{ buckets: Bucket[]; denied: DeniedGroup[] }>("POST", "/api/flows/summary", q);

/** A Prometheus instant query through the manager's /prometheus/ route. */
export async function promQuery(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const data = await call<{ data: { result: { metric: Record<string, string>; value: [number, string] }[] } }>(
    "GET",
    `/prometheus/api/v1/query?query=${encodeURIComponent(q)}`,
  );
  return data.data.result;
}

export interface AppliedPolicy {
  tier: string;
  kind: string;
  namespace?: string;
  name: string;
  ingress: boolean;
  egress: boolean;
}

export interface EndpointInfo {
  kind: "WorkloadEndpoint" | "HostEndpoint";
  namespace?: string;
  name: string;
  pod?: string;
  node: string;
  interface?: string;
  addresses: string[];
  labels: Record<string, string>;
  policies: AppliedPolicy[];
}

export const endpoints = (namespace: string) =>
  call<{ endpoints: EndpointInfo[]; hidden: string[]; policies_known: boolean }>(
    "GET",
    `/api/endpoints${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ""}`,
  );

/** A projectcalico.org/v3 object as the API server has it. */
export interface Resource {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export const listResources = (kind: string, namespace = "") =>
  call<{ kind: string; items: Resource[] }>(
    "GET",
    `/api/resources/${kind}${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ""}`,
  );

export const putResource = (obj: Resource, dryRun = false) =>
  call<Resource>("PUT", `/api/resources/${obj.kind}${dryRun ? "?dryRun=true" : ""}`, obj);

export const deleteResource = (kind: string, namespace: string | undefined, name: string) =>
  call<unknown>("DELETE", `/api/resources/${kind}/${namespace || "-"}/${encodeURIComponent(name)}`);

export interface Change {
  time: string;
  audit_id: string;
  user: string;
  verb: string;
  resource: string;
  namespace?: string;
  name?: string;
  code: number;
  message?: string;
  object?: unknown;
}

export interface TimelineQuery {
  type: "calico" | "kube";
  from?: string;
  to?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  user?: string;
  verb?: string;
  page_size?: number;
  after_key?: Record<string, unknown> | null;
  before?: string;
}

export const timeline = (q: TimelineQuery) =>
  call<{ items: Change[]; after_key: Record<string, unknown> | null; total_hits: number }>("POST", "/api/timeline", q);

export interface BoardTier {
  name: string;
  order?: number;
  default_action?: string;
  object: Resource;
}

export interface BoardCard {
  kind: string;
  namespace?: string;
  name: string;
  tier: string;
  order?: number;
  selector?: string;
  types?: string[];
  staged_action?: string;
  ingress_rules: number;
  egress_rules: number;
  object: Resource;
}

export const policyBoard = () => call<{ tiers: BoardTier[]; policies: BoardCard[]; hidden: string[] }>("GET", "/api/policies");

export interface PreviewFlow {
  source: string;
  destination: string;
  protocol: string;
  port: number;
  flows: number;
  before: string;
  after: string;
  decided_by?: string;
}

export interface PreviewResult {
  hours: number;
  flows: number;
  groups: number;
  changed: PreviewFlow[];
  skipped: number;
  took: string;
}

export const previewPolicies = (req: { hours?: number; changes?: string[]; deletes?: { kind: string; namespace?: string; name: string }[] }) =>
  call<PreviewResult>("POST", "/api/policies/preview", req);

/** A security event, as Linseed stores it. */
export interface SecurityEvent {
  id: string;
  time: number;
  generated_time?: number | null;
  type: string;
  description: string;
  origin: string;
  severity: number;
  name?: string | null;
  host?: string | null;
  source_ip?: string | null;
  source_port?: number | null;
  source_name?: string | null;
  source_name_aggr?: string | null;
  source_namespace?: string | null;
  dest_ip?: string | null;
  dest_port?: number | null;
  dest_name?: string | null;
  dest_name_aggr?: string | null;
  dest_namespace?: string | null;
  protocol?: string | null;
  dismissed: boolean;
  mitigations?: string[] | null;
  record?: unknown;
}

export interface EventQuery {
  from?: string;
  to?: string;
  min_severity?: number;
  type?: string;
  namespace?: string;
  origin?: string;
  include_dismissed?: boolean;
  page_size?: number;
  after_key?: Record<string, unknown> | null;
}

export const securityEvents = (q: EventQuery) =>
  call<{ items: SecurityEvent[]; after_key: Record<string, unknown> | null; total_hits: number }>("POST", "/api/events", q);

export const changeEvents = (verb: "dismiss" | "delete", ids: string[]) =>
  call<{ changed: number }>("POST", `/api/events/${verb}`, { ids });

export interface AlertTestResult {
  from: string;
  to: string;
  events: SecurityEvent[];
}

export const testAlert = (name: string, spec: Record<string, unknown>) =>
  call<AlertTestResult>("POST", "/api/alerts/test", { name, spec });

/** A generated compliance report, as the compliance server lists it. */
export interface ComplianceReport {
  id: string;
  reportName: string;
  reportTypeName: string;
  startTime: string;
  endTime: string;
  generationTime: string;
  uiSummary?: unknown;
  downloads: { name: string; description?: string; url: string }[];
}

export const complianceReports = (reportName = "") =>
  call<{ reports: ComplianceReport[] }>("GET", "/compliance/reports" + (reportName ? `?reportName=${encodeURIComponent(reportName)}` : ""));

/** Fetches a download (a report, a capture's files) with the user's token and saves it as a file. */
export async function downloadFile(path: string, filename: string): Promise<void> {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${token() ?? ""}` } });
  if (!resp.ok) {
    const text = await resp.text();
    let msg = text || resp.statusText;
    try {
      msg = (JSON.parse(text) as { error?: string }).error ?? msg;
    } catch {
      // not JSON
    }
    throw new ApiError(resp.status, msg);
  }
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

/** Deletes a finished capture's files on every node (the packet capture API). */
export const deleteCaptureFiles = (namespace: string, name: string) =>
  call<{ nodes: Record<string, number> }>("DELETE", `/packet-capture/files/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);

/** Where a capture's zip is downloaded. */
export const captureDownloadPath = (namespace: string, name: string) =>
  `/packet-capture/download/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/files.zip`;
