package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/lab/labtest"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// TestScheduling, against a real API server (the test plays the Job
// controller, setting jobs' outcomes): due intervals get one job each,
// once, also when a restarted controller finds its status behind its
// jobs; finished jobs move to the status' successful and failed lists;
// a suspended report gets no new jobs.
func TestScheduling(t *testing.T) {
	ctx := context.Background()
	c := testLab.Client
	// A name of its own: jobs of an earlier run may still be going.
	name := fmt.Sprintf("every-five-%d", time.Now().UnixNano()%1_000_000)
	rep := &v3.GlobalReport{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v3.ReportSpec{ReportType: "inventory", Schedule: "*/5 * * * *"}}
	if _, err := c.Create(ctx, rep); err != nil {
		t.Fatal(err)
	}
	defer c.Delete(context.Background(), reportKind, "", name, nil)
	o, _ := c.Get(ctx, reportKind, "", name)
	created := o.GetCreationTimestamp().Time
	now := created.Add(11 * time.Minute)
	ctl := func() *Controller {
		return &Controller{Client: c, Job: Job{Namespace: "default", Image: "calicong/compliance:test", ServiceAccount: "default"},
			Delay: time.Minute, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	}
	jobs := func() []batchv1.Job {
		l, err := c.Kube.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{LabelSelector: ReportLabel + "=" + name})
		if err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	status := func() v3.ReportStatus {
		o, err := c.Get(ctx, reportKind, "", name)
		if err != nil {
			t.Fatal(err)
		}
		return o.(*v3.GlobalReport).Status
	}
	// created at hh:mm; 11 minutes on, with a minute's delay: two
	// intervals of five minutes are due.
	if _, err := ctl().Once(ctx, name); err != nil {
		t.Fatal(err)
	}
	js := jobs()
	if len(js) != 2 {
		t.Fatalf("%d jobs, want 2", len(js))
	}
	st := status()
	if st.LastScheduledReportJob == nil || len(st.ActiveReportJobs) != 2 || st.LastScheduledReportJob.End.Sub(st.ActiveReportJobs[0].End.Time) != 5*time.Minute {
		t.Fatalf("status after scheduling: %+v", st)
	}
	env := map[string]string{}
	for _, e := range js[0].Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["REPORT_NAME"] != name || env["REPORT_START"] == "" || js[0].Spec.Template.Spec.Containers[0].Args[0] != "reporter" {
		t.Errorf("the job's reporter: %+v", js[0].Spec.Template.Spec.Containers[0])
	}
	if ttl := js[0].Spec.TTLSecondsAfterFinished; ttl == nil || *ttl != int32(JobTTL.Seconds()) {
		t.Errorf("the job is kept after it finishes for %v s, want a day", ttl)
	}
	// Again: nothing new. A restarted controller whose status lost the
	// last scheduled job (it died before recording it) finds the jobs.
	if _, err := ctl().Once(ctx, name); err != nil || len(jobs()) != 2 {
		t.Fatalf("a second pass: %d jobs (%v)", len(jobs()), err)
	}
	if err := c.ChangeStatus(ctx, reportKind, "", name, func(o v3.Object) { o.(*v3.GlobalReport).Status = v3.ReportStatus{} }); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl().Once(ctx, name); err != nil || len(jobs()) != 2 || status().LastScheduledReportJob == nil {
		t.Fatalf("after losing the status: %d jobs, status %+v (%v)", len(jobs()), status(), err)
	}
	// The jobs finish: one succeeds, one fails (written as the Job
	// controller would, which may be running and updating them too).
	for i, j := range jobs() {
		finish(t, j.Name, i == 0)
	}
	if _, err := ctl().Once(ctx, name); err != nil {
		t.Fatal(err)
	}
	if st := status(); len(st.ActiveReportJobs) != 0 || len(st.LastSuccessfulReportJobs) != 1 || len(st.LastFailedReportJobs) != 1 {
		t.Errorf("status after the jobs finished: %+v", st)
	}
	// Suspended: five more minutes bring no job.
	o, _ = c.Get(ctx, reportKind, "", name)
	r := o.(*v3.GlobalReport)
	yes := true
	r.Spec.Suspend = &yes
	if _, err := c.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	now = now.Add(5 * time.Minute)
	if _, err := ctl().Once(ctx, name); err != nil || len(jobs()) != 2 {
		t.Errorf("suspended: %d jobs (%v)", len(jobs()), err)
	}
	for _, j := range jobs() {
		_ = c.Kube.BatchV1().Jobs("default").Delete(context.Background(), j.Name, metav1.DeleteOptions{})
	}
}

// finish marks a job finished, as the Job controller does: no pods
// active, the counts, and the terminal conditions; retried on conflict
// with the Job controller's own writes.
func finish(t *testing.T, name string, success bool) {
	t.Helper()
	ctx := context.Background()
	jobs := testLab.Client.Kube.BatchV1().Jobs("default")
	var err error
	for range 20 {
		var j *batchv1.Job
		if j, err = jobs.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		if j.Status.StartTime == nil {
			j.Status.StartTime = &now
		}
		zero := int32(0)
		j.Status.Active, j.Status.Ready = 0, &zero
		j.Status.UncountedTerminatedPods = nil
		if success {
			j.Status.Succeeded, j.Status.CompletionTime = 1, &now
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		} else {
			j.Status.Failed = 3
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		}
		if _, err = jobs.UpdateStatus(ctx, j, metav1.UpdateOptions{}); err == nil || !apierrors.IsConflict(err) {
			break
		}
	}
	if err != nil {
		t.Fatalf("finishing job %s: %v", name, err)
	}
}
