// Package controller runs compliance reports on schedule: for each
// GlobalReport, a Kubernetes Job (calico-compliance reporter) per due
// interval (internal/compliance/schedule), after a settling delay, and
// the report's status: lastScheduledReportJob, activeReportJobs,
// lastSuccessfulReportJobs and lastFailedReportJobs. A Job's name comes
// from the report and the interval's end, so a controller restarted
// between creating a Job and recording it finds the Job there and never
// runs an interval twice; the last scheduled end in the status means
// none is skipped.
package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/api/v3/validation"
	"github.com/calicong/calico/internal/compliance/schedule"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/intrusion/loops"
)

// DefaultDelay is how long after an interval's end its report runs, for
// the interval's logs to reach Linseed (Calico Enterprise's).
const DefaultDelay = 30 * time.Minute

// KeepCompleted is how many finished jobs of each outcome a report's
// status lists.
const KeepCompleted = 5

// JobTTL is how long a finished report job is kept.
const JobTTL = 24 * time.Hour

// ReportLabel marks a report's jobs with the report's name.
const ReportLabel = "projectcalico.org/report"

var reportKind, _ = v3.KindFor("GlobalReport")

// Job describes the reporter jobs: where they run and as whom.
type Job struct {
	Namespace      string
	Image          string
	ServiceAccount string
	// Env is added to the reporter's (Linseed's URL and files, the
	// cluster's name).
	Env []corev1.EnvVar
	// Volumes and VolumeMounts hold the Linseed client certificate.
	Volumes      []corev1.Volume
	VolumeMounts []corev1.VolumeMount
}

// Controller schedules every report.
type Controller struct {
	Client *datastore.Client
	Job    Job
	// Delay is the settling delay (DefaultDelay).
	Delay time.Duration
	// Tick bounds how long a report's loop sleeps (1m).
	Tick time.Duration
	Log  *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	loops loops.Set[v3.ReportSpec]
}

// Run watches the reports until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	err := loops.Watch(ctx, c.Client, reportKind, func(r *v3.GlobalReport) {
		if r.Spec.Schedule == "" {
			c.loops.Stop(r.Name)
			return
		}
		name := r.Name
		c.loops.Ensure(ctx, name, *r.Spec.DeepCopy(), func(ctx context.Context) { c.run(ctx, name) })
	}, c.loops.Stop)
	c.loops.StopAll()
	return err
}

func (c *Controller) run(ctx context.Context, name string) {
	tick := c.Tick
	if tick <= 0 {
		tick = time.Minute
	}
	for {
		next, err := c.Once(ctx, name)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.Log.Warn("report scheduling failed", "report", name, "err", err)
		}
		wait := tick
		if d := next.Sub(c.now()); !next.IsZero() && d < wait {
			wait = max(d, 100*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Once brings one report up to date: finished jobs recorded, due
// intervals' jobs created. It returns when the next interval is due.
func (c *Controller) Once(ctx context.Context, name string) (time.Time, error) {
	o, err := c.Client.Get(ctx, reportKind, "", name)
	if err != nil {
		return time.Time{}, err
	}
	rep := o.(*v3.GlobalReport)
	sched, err := validation.ParseSchedule(rep.Spec.Schedule)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule: %w", err)
	}
	if err := c.recordFinished(ctx, rep); err != nil {
		return time.Time{}, err
	}
	var last time.Time
	if j := rep.Status.LastScheduledReportJob; j != nil {
		last = j.End.Time
	}
	delay := c.Delay
	if delay <= 0 {
		delay = DefaultDelay
	}
	if rep.Spec.Suspend != nil && *rep.Spec.Suspend {
		return time.Time{}, nil
	}
	for _, iv := range schedule.Due(sched, rep.CreationTimestamp.Time, last, c.now(), delay) {
		job, err := c.createJob(ctx, rep, iv)
		if err != nil {
			return time.Time{}, err
		}
		ref := &corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: job.Namespace, Name: job.Name, UID: job.UID}
		rj := v3.ReportJob{Start: metav1.NewTime(iv.Start), End: metav1.NewTime(iv.End), Job: ref}
		err = c.Client.ChangeStatus(ctx, reportKind, "", name, func(o v3.Object) {
			st := &o.(*v3.GlobalReport).Status
			st.LastScheduledReportJob = &rj
			if !slices.ContainsFunc(st.ActiveReportJobs, func(j v3.ReportJob) bool { return j.Job != nil && j.Job.Name == ref.Name }) {
				st.ActiveReportJobs = append(st.ActiveReportJobs, rj)
			}
		})
		if err != nil {
			return time.Time{}, fmt.Errorf("recording job %s: %w", ref.Name, err)
		}
		c.Log.Info("report job created", "report", name, "job", ref.Name, "start", iv.Start, "end", iv.End)
		last = iv.End
	}
	return schedule.Next(sched, rep.CreationTimestamp.Time, last, delay), nil
}

// JobName is the job of a report's interval: the report's name (cut
// short, with a hash of it when cut) and the interval's end.
func JobName(report string, end time.Time) string {
	name := report
	if len(name) > 40 {
		h := sha256.Sum256([]byte(report))
		name = name[:30] + "-" + hex.EncodeToString(h[:])[:9]
	}
	return name + "-" + strconv.FormatInt(end.Unix(), 10)
}

// createJob creates an interval's job, or finds it made by an earlier
// run of the controller.
func (c *Controller) createJob(ctx context.Context, rep *v3.GlobalReport, iv schedule.Interval) (*batchv1.Job, error) {
	backoff := int32(2)
	// Finished jobs go a day later (their outcome is in the report's
	// status by then), so a cluster does not collect one per interval.
	ttl := int32(JobTTL.Seconds())
	yes, no := true, false
	env := append([]corev1.EnvVar{
		{Name: "REPORT_NAME", Value: rep.Name},
		{Name: "REPORT_START", Value: iv.Start.UTC().Format(time.RFC3339)},
		{Name: "REPORT_END", Value: iv.End.UTC().Format(time.RFC3339)},
	}, c.Job.Env...)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName(rep.Name, iv.End), Namespace: c.Job.Namespace,
			Labels: map[string]string{ReportLabel: rep.Name}},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{ReportLabel: rep.Name}},
				Spec: corev1.PodSpec{
					RestartPolicy:      corev1.RestartPolicyNever,
					ServiceAccountName: c.Job.ServiceAccount,
					NodeSelector:       rep.Spec.JobNodeSelector,
					Volumes:            c.Job.Volumes,
					Containers: []corev1.Container{{
						Name: "reporter", Image: c.Job.Image, Args: []string{"reporter"}, Env: env, VolumeMounts: c.Job.VolumeMounts,
						SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					}},
				},
			},
		},
	}
	jobs := c.Client.Kube.BatchV1().Jobs(c.Job.Namespace)
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return jobs.Get(ctx, job.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("creating job %s: %w", job.Name, err)
	}
	return created, nil
}

// recordFinished moves the report's finished jobs from active to the
// last successful or failed ones.
func (c *Controller) recordFinished(ctx context.Context, rep *v3.GlobalReport) error {
	if len(rep.Status.ActiveReportJobs) == 0 {
		return nil
	}
	done := map[string]*metav1.Time{}
	failed := map[string]bool{}
	for _, rj := range rep.Status.ActiveReportJobs {
		if rj.Job == nil {
			continue
		}
		job, err := c.Client.Kube.BatchV1().Jobs(rj.Job.Namespace).Get(ctx, rj.Job.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			failed[rj.Job.Name], done[rj.Job.Name] = true, nil // deleted before it finished
			continue
		}
		if err != nil {
			return err
		}
		for _, cond := range job.Status.Conditions {
			if cond.Status != corev1.ConditionTrue {
				continue
			}
			switch cond.Type {
			case batchv1.JobComplete:
				t := cond.LastTransitionTime
				done[rj.Job.Name] = &t
			case batchv1.JobFailed:
				t := cond.LastTransitionTime
				done[rj.Job.Name], failed[rj.Job.Name] = &t, true
			}
		}
	}
	if len(done) == 0 {
		return nil
	}
	return c.Client.ChangeStatus(ctx, reportKind, "", rep.Name, func(o v3.Object) {
		st := &o.(*v3.GlobalReport).Status
		var active []v3.ReportJob
		for _, rj := range st.ActiveReportJobs {
			if rj.Job == nil {
				continue
			}
			t, ok := done[rj.Job.Name]
			if !ok {
				active = append(active, rj)
				continue
			}
			cj := v3.CompletedReportJob{ReportJob: rj, JobCompletionTime: t}
			if failed[rj.Job.Name] {
				st.LastFailedReportJobs = keepLast(append(st.LastFailedReportJobs, cj))
			} else {
				st.LastSuccessfulReportJobs = keepLast(append(st.LastSuccessfulReportJobs, cj))
			}
		}
		st.ActiveReportJobs = active
	})
}

func keepLast(js []v3.CompletedReportJob) []v3.CompletedReportJob {
	if len(js) > KeepCompleted {
		return js[len(js)-KeepCompleted:]
	}
	return js
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
