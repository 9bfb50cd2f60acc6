import { type Whoami } from "../api";
import { setParams, useLocation } from "../route";
import { Alerts } from "./Alerts";
import { AlertRules } from "./AlertRules";
import { ThreatFeeds } from "./ThreatFeeds";

const views = [
  { key: "alerts", label: "Alerts" },
  { key: "rules", label: "Alert rules" },
  { key: "feeds", label: "Threat feeds" },
] as const;

/** Threat defence: the security events, the rules that raise them, and the threat feeds. */
export function Security({ me }: { me: Whoami }) {
  const url = useLocation();
  const view = views.find((v) => v.key === url.searchParams.get("view")) ?? views[0];
  return (
    <section aria-labelledby="security-title">
      <div className="page-head">
        <h1 id="security-title">{view.label}</h1>
        <div role="group" aria-label="Security views" className="segmented">
          {views.map((v) => (
            <button
              key={v.key}
              type="button"
              className={v === view ? "" : "ghost"}
              aria-pressed={v === view}
              onClick={() => setParams({ view: v.key === "alerts" ? undefined : v.key, edit: undefined })}
            >
              {v.label}
            </button>
          ))}
        </div>
      </div>
      {view.key === "alerts" && <Alerts me={me} url={url} />}
      {view.key === "rules" && <AlertRules me={me} url={url} />}
      {view.key === "feeds" && <ThreatFeeds url={url} />}
    </section>
  );
}
