package deploycheck

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// kubeObject is a decoded manifest document.
type kubeObject struct {
	file, kind string
	obj        any
}

// kubeTypes are the API types the manifests may hold; a kind not listed here fails the test, so a
// new kind is decoded strictly too.
var kubeTypes = map[string]func() any{
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim":           func() any { return &corev1.PersistentVolumeClaim{} },
	"v1/Secret":                          func() any { return &corev1.Secret{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// kubeObjects strictly decodes every document of every manifest in deploy/ into its Kubernetes
// API type: an unknown or misspelt field, or a value of the wrong type, fails.
func kubeObjects(t *testing.T) []kubeObject {
	t.Helper()
	var out []kubeObject
	for _, f := range filesOfKind(t, "kubernetes") {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSep.Split(string(raw), -1) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if head.Kind == "" && strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			newObj, ok := kubeTypes[head.APIVersion+"/"+head.Kind]
			if !ok {
				t.Fatalf("%s document %d: %s %s is not a kind these tests decode; add its type", f, i, head.APIVersion, head.Kind)
			}
			obj := newObj()
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i, head.Kind, err)
			}
			out = append(out, kubeObject{file: f, kind: head.Kind, obj: obj})
		}
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// The manifests decode strictly into the Kubernetes API types; the image is pinned in one place;
// the write token is required (a missing Secret key stops the pods, never opens writes); the
// container runs as non-root on a read-only root; the probes use postmortemd's health endpoints.
func TestKubernetesManifests(t *testing.T) {
	objs := kubeObjects(t)
	var deployments []*appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.obj.(*appsv1.Deployment); ok && d.Name == "postmortemd" {
			deployments = append(deployments, d)
		}
	}
	if len(deployments) != 1 {
		t.Fatalf("%d Deployments named postmortemd, want 1", len(deployments))
	}
	d := deployments[0]
	spec := d.Spec.Template.Spec

	var images []string
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		images = append(images, c.Image)
	}
	if len(images) != 1 {
		t.Fatalf("images %v: want one reference, set in one place", images)
	}
	img := images[0]
	if name, tag, ok := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":"); !strings.Contains(img, "@sha256:") &&
		(!ok || tag == "" || tag == "latest" || name == "") {
		t.Errorf("image %q is not pinned to a tag or digest", img)
	}

	c := spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e, ok := env["POSTMORTEMD_WRITE_TOKEN"]; ok {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || (e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional) {
			t.Errorf("POSTMORTEMD_WRITE_TOKEN must come from a required Secret key: %+v", e)
		}
	} else {
		e, ok := env["POSTMORTEMD_WRITE_TOKEN_FILE"]
		if !ok {
			t.Fatal("the container sets neither POSTMORTEMD_WRITE_TOKEN nor POSTMORTEMD_WRITE_TOKEN_FILE: writes would be open")
		}
		if !requiredSecretFile(spec, c, e.Value, "write-token") {
			t.Errorf("POSTMORTEMD_WRITE_TOKEN_FILE=%s is not the write-token key of a required Secret mounted there", e.Value)
		}
	}

	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("the pod does not require a non-root user")
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("the container's root filesystem is writable or it may escalate privileges")
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/-/healthy" {
		t.Errorf("liveness probe %+v: want GET /-/healthy", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/-/ready" {
		t.Errorf("readiness probe %+v: want GET /-/ready", p)
	}

	// The postmortemd Service selects the Deployment's pods.
	for _, o := range objs {
		if s, ok := o.obj.(*corev1.Service); ok && s.Name == "postmortemd" {
			for k, v := range s.Spec.Selector {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("Service %s selects %s=%s, which the pods do not carry", s.Name, k, v)
				}
			}
		}
	}
}

// requiredSecretFile reports whether file is key of a non-optional Secret volume mounted in c.
func requiredSecretFile(spec corev1.PodSpec, c corev1.Container, file, key string) bool {
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		if !strings.HasPrefix(file, dir) {
			continue
		}
		rel := strings.TrimPrefix(file, dir)
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil || (v.Secret.Optional != nil && *v.Secret.Optional) {
				continue
			}
			if len(v.Secret.Items) == 0 {
				return rel == key
			}
			if slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Key == key && it.Path == rel }) {
				return true
			}
		}
	}
	return false
}
