package noderuntime

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestClientTargets(t *testing.T) {
	pod := func(ann map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: ann}}
	}
	ts, every, err := clientTargets(pod(map[string]string{AnnotationConnect: "backend:8080  10.96.0.10:53", AnnotationConnectEvery: "2s"}))
	if err != nil || len(ts) != 2 || ts[0] != (target{"backend", 8080}) || ts[1] != (target{"10.96.0.10", 53}) || every != 2*time.Second {
		t.Errorf("targets %v every %v: %v", ts, every, err)
	}
	if ts, _, err := clientTargets(pod(nil)); ts != nil || err != nil {
		t.Errorf("no annotation: %v %v", ts, err)
	}
	for _, bad := range []map[string]string{{AnnotationConnect: "backend"}, {AnnotationConnect: "backend:0"}, {AnnotationConnect: "a:1", AnnotationConnectEvery: "1ms"}} {
		if _, _, err := clientTargets(pod(bad)); err == nil || !strings.Contains(err.Error(), "lab.calicong.io/connect") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
