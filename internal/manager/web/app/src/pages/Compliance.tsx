import { useEffect, useState } from "react";
import { ApiError, complianceReports, downloadFile, listResources, type ComplianceReport, type Resource, type Whoami } from "../api";
import { setParams, useLocation } from "../route";
import { Empty, ErrorNote } from "../flows";

/** A summary widget, as a report type's uiSummaryTemplate renders it. */
interface Widget {
  heading?: string;
  type?: string;
  summary?: { label?: string; total?: number };
  data?: { label: string; value: number }[];
  widgets?: Widget[];
}

const typeLabels: Record<string, string> = {
  inventory: "Inventory",
  "network-access": "Network access",
  "policy-audit": "Policy audit",
  "cis-benchmark": "CIS benchmark",
};

function interval(r: ComplianceReport): string {
  const s = new Date(r.startTime);
  const e = new Date(r.endTime);
  const sameDay = s.toDateString() === e.toDateString();
  return `${s.toLocaleString()} – ${sameDay ? e.toLocaleTimeString() : e.toLocaleString()}`;
}

/**
 * Compliance: the reports of each interval with their summaries and downloads, and the
 * scheduled reports that make them.
 */
export function Compliance({ me }: { me: Whoami }) {
  const url = useLocation();
  const only = url.searchParams.get("report") ?? "";
  const [reports, setReports] = useState<ComplianceReport[] | null>(null);
  const [schedules, setSchedules] = useState<Resource[] | null>(null);
  const [error, setError] = useState("");
  const [scheduleError, setScheduleError] = useState("");

  useEffect(() => {
    let live = true;
    complianceReports(only)
      .then((r) => live && (setReports(r.reports), setError("")))
      .catch((e: Error) => live && (setError(e.message), setReports([])));
    listResources("GlobalReport")
      .then((r) => live && setSchedules(r.items))
      .catch((e: Error) => live && (setScheduleError(e.message), setSchedules([])));
    return () => {
      live = false;
    };
  }, [only]);

  const names = [...new Set((schedules ?? []).map((s) => s.metadata.name).concat((reports ?? []).map((r) => r.reportName)))].sort();
  return (
    <section aria-labelledby="compliance-title">
      <div className="page-head">
        <h1 id="compliance-title">Compliance reports</h1>
        <label className="inline">
          Report{" "}
          <select value={only} onChange={(e) => setParams({ report: e.target.value || undefined })}>
            <option value="">All reports</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Schedules items={schedules} error={scheduleError} />
      <h2>Generated reports</h2>
      {error && <ErrorNote error={`The reports could not be read: ${error}`} />}
      {reports === null && <p className="muted">Loading reports…</p>}
      {reports !== null && reports.length === 0 && !error && (
        <Empty title={only ? `No reports of ${only} yet` : "No reports you may see"}>
          A report is generated for each interval of its GlobalReport's schedule, once the interval has ended and its logs
          have settled (30 minutes by default). You see the reports whose GlobalReport and GlobalReportType you may{" "}
          <code>get</code>; {me.user} may see none yet.
        </Empty>
      )}
      {reports !== null && reports.length > 0 && (
        <ul className="report-list" aria-label="Generated reports">
          {reports.map((r) => (
            <ReportCard key={r.id} r={r} />
          ))}
        </ul>
      )}
    </section>
  );
}

/** The scheduled reports: what each covers, when it runs, and how its last jobs went. */
function Schedules({ items, error }: { items: Resource[] | null; error: string }) {
  if (items === null) return <p className="muted">Loading scheduled reports…</p>;
  if (error) return <ErrorNote error={`You may not list GlobalReports: ${error}`} />;
  if (items.length === 0)
    return (
      <Empty title="No scheduled reports">
        Create a GlobalReport with a report type (inventory, network-access, policy-audit or cis-benchmark) and a cron
        schedule, for example with <code>kubectl apply</code>; its first report covers the interval in which it was made.
      </Empty>
    );
  type Job = { start: string; end: string; job?: { name: string }; jobCompletionTime?: string };
  return (
    <div className="table-wrap">
      <table className="flows" aria-label="Scheduled reports">
        <thead>
          <tr>
            <th scope="col">Report</th>
            <th scope="col">Type</th>
            <th scope="col">Schedule (UTC)</th>
            <th scope="col">Last interval scheduled</th>
            <th scope="col">Jobs</th>
          </tr>
        </thead>
        <tbody>
          {items.map((s) => {
            const st = (s.status ?? {}) as { lastScheduledReportJob?: Job; activeReportJobs?: Job[]; lastSuccessfulReportJobs?: Job[]; lastFailedReportJobs?: Job[] };
            const last = st.lastScheduledReportJob;
            const failed = st.lastFailedReportJobs ?? [];
            const succeeded = st.lastSuccessfulReportJobs ?? [];
            const running = st.activeReportJobs ?? [];
            return (
              <tr key={s.metadata.name}>
                <th scope="row">
                  <a href={`?report=${encodeURIComponent(s.metadata.name)}`} onClick={(e) => (e.preventDefault(), setParams({ report: s.metadata.name }))}>
                    {s.metadata.name}
                  </a>
                  {s.spec.suspend ? <span className="badge">suspended</span> : null}
                </th>
                <td>{typeLabels[String(s.spec.reportType)] ?? String(s.spec.reportType)}</td>
                <td>
                  <code>{String(s.spec.schedule ?? "not scheduled")}</code>
                </td>
                <td>{last ? `${new Date(last.start).toLocaleString()} – ${new Date(last.end).toLocaleTimeString()}` : <span className="muted">none yet</span>}</td>
                <td>
                  {succeeded.length > 0 && (
                    <span className="verdict allowed" title={`The last succeeded: ${succeeded.map((f) => f.job?.name).join(", ")}`}>
                      ✓ {succeeded.length} succeeded
                    </span>
                  )}{" "}
                  {running.length > 0 && <span className="badge">{running.length} running</span>}{" "}
                  {failed.length > 0 && (
                    <span className="verdict denied" title={`The last failed: ${failed.map((f) => f.job?.name).join(", ")}`}>
                      ✕ {failed.length} failed
                    </span>
                  )}
                  {succeeded.length + running.length + failed.length === 0 && <span className="muted">none yet</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function ReportCard({ r }: { r: ComplianceReport }) {
  const [busy, setBusy] = useState("");
  const [error, setError] = useState("");
  const summary = r.uiSummary as Widget | undefined;
  const get = async (file: string, path: string) => {
    setBusy(file);
    setError("");
    try {
      await downloadFile(path, `${r.id}-${file}`);
    } catch (e) {
      setError(e instanceof ApiError ? `${file}: ${e.message}` : String(e));
    } finally {
      setBusy("");
    }
  };
  return (
    <li className="card report">
      <div className="report-head">
        <div>
          <h3>{r.reportName}</h3>
          <div className="muted small">
            {typeLabels[r.reportTypeName] ?? r.reportTypeName} · {interval(r)} · generated {new Date(r.generationTime).toLocaleString()}
          </div>
        </div>
        <div className="report-downloads" role="group" aria-label={`Downloads of ${r.reportName}`}>
          {r.downloads.map((d) => (
            <button key={d.name} type="button" className="ghost" title={d.description} disabled={busy === d.name} onClick={() => get(d.name, d.url)}>
              ⤓ {d.name}
            </button>
          ))}
        </div>
      </div>
      {error && <ErrorNote error={error} />}
      {summary ? <Widgets w={summary} /> : <p className="muted">This report type has no summary.</p>}
    </li>
  );
}

/** A report's summary: panels of charts, each value labelled in text. */
function Widgets({ w }: { w: Widget }) {
  if (w.type === "panel" || w.widgets) {
    return (
      <div className="widgets" aria-label={w.heading}>
        {(w.widgets ?? []).map((c, i) => (
          <Widgets key={i} w={c} />
        ))}
      </div>
    );
  }
  const data = w.data ?? [];
  const max = Math.max(w.summary?.total ?? 0, ...data.map((d) => d.value), 1);
  if (data.length === 0 && w.summary) {
    return (
      <figure className="widget">
        <figcaption>{w.heading}</figcaption>
        <div className="stat-value">{w.summary.total}</div>
        <div className="muted small">{w.summary.label ?? "Total"}</div>
      </figure>
    );
  }
  return (
    <figure className="widget">
      <figcaption>
        {w.heading}
        {w.summary && (
          <span className="muted">
            {" "}
            · {w.summary.label ?? "Total"} {w.summary.total}
          </span>
        )}
      </figcaption>
      {data.length === 0 ? (
        <p className="muted small">None in this interval.</p>
      ) : (
        <dl className="meters">
          {data.map((d) => (
            <div key={d.label} className="meter-row">
              <dt title={d.label}>{d.label}</dt>
              <dd>
                <span className="meter" aria-hidden="true">
                  <span style={{ width: `${(100 * d.value) / max}%` }} />
                </span>
                <span className="meter-value">
                  {d.value}
                  {w.summary?.total ? <span className="muted"> of {w.summary.total}</span> : null}
                </span>
              </dd>
            </div>
          ))}
        </dl>
      )}
    </figure>
  );
}
