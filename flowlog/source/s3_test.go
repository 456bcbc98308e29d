package source

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// fakeS3 serves the two S3 calls the importer makes, ListObjectsV2 (two
// keys per page, to exercise continuation) and GetObject, path-style. It
// tests our client code against the S3 wire protocol, not S3 itself.
type fakeS3 struct {
	bucket  string
	objects map[string][]byte
	mu      sync.Mutex
	lists   int
	gets    []string
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=test-key/") {
		http.Error(w, "unsigned request", http.StatusForbidden)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	if bucket != f.bucket {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<Error><Code>NoSuchBucket</Code><Message>no such bucket</Message></Error>`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if key == "" && r.URL.Query().Get("list-type") == "2" {
		f.lists++
		f.list(w, r)
		return
	}
	body, ok := f.objects[key]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>`)
		return
	}
	f.gets = append(f.gets, key)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

func (f *fakeS3) list(w http.ResponseWriter, r *http.Request) {
	prefix, after := r.URL.Query().Get("prefix"), r.URL.Query().Get("continuation-token")
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	type content struct {
		Key  string
		Size int
	}
	res := struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		Name                  string
		Prefix                string
		KeyCount              int
		IsTruncated           bool
		NextContinuationToken string `xml:",omitempty"`
		Contents              []content
	}{Name: f.bucket, Prefix: prefix}
	for i, k := range keys {
		if i == 2 {
			res.IsTruncated, res.NextContinuationToken = true, keys[1]
			break
		}
		res.Contents = append(res.Contents, content{k, len(f.objects[k])})
	}
	res.KeyCount = len(res.Contents)
	w.Header().Set("Content-Type", "application/xml")
	xml.NewEncoder(w).Encode(res)
}

func s3Env(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// s3://bucket/prefix through the AWS SDK against a fake S3-compatible
// endpoint: every page listed, only flow-log objects fetched, gzip and
// plain objects imported.
func TestImportS3(t *testing.T) {
	s3Env(t)
	prefix := "AWSLogs/123456789010/vpcflowlogs/eu-west-1/2026/11/01/"
	fake := &fakeS3{bucket: "logs", objects: map[string][]byte{
		prefix + "a_vpcflowlogs_0000Z_1.log.gz": flowlogstest.Gzip(flowloggen.ReferenceText(true)),
		prefix + "a_vpcflowlogs_0005Z_2.log.gz": flowlogstest.Gzip(flowloggen.Header + "\n" + flowloggen.Reference[0] + "\n"),
		prefix + "a_vpcflowlogs_0010Z_3.log":    []byte(flowloggen.Reference[1] + "\n"),
		prefix + "README":                       []byte("not a flow log"),
		"other/x.log.gz":                        flowlogstest.Gzip("x"),
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := context.Background()
	opts := SourceOptions{S3Endpoint: srv.URL}
	in, err := ExpandPaths(ctx, []string{"s3://logs/AWSLogs/"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 3 || in[0].Name != "s3://logs/"+prefix+"a_vpcflowlogs_0000Z_1.log.gz" || in[2].Size != int64(len(flowloggen.Reference[1])+1) {
		t.Fatalf("inputs %+v", in)
	}
	if fake.lists < 2 {
		t.Errorf("%d list calls: continuation not followed", fake.lists)
	}
	im, st := flowlogstest.NewImporter(t, importer.Config{}, nil)
	sum, err := ImportInputs(ctx, im, "s3", in, ImportOptions{})
	if err != nil || sum.Records != 9 || sum.FailedFiles != 0 || len(fake.gets) != 3 {
		t.Fatalf("%+v %v gets %v", sum, err, fake.gets)
	}
	if n := flowlogstest.Rows(t, st.DB(), `SELECT count(*) FROM flowlog_records WHERE log_group = 's3'`); n[0] != "9" {
		t.Errorf("%s records", n[0])
	}
	// S3 content is hashed while read: a second import stores nothing.
	again, err := ImportInputs(ctx, im, "s3", in, ImportOptions{})
	if err != nil || again.Duplicates != 3 || again.Records != 0 {
		t.Fatalf("again %+v %v", again, err)
	}
	if _, err := ExpandPaths(ctx, []string{"s3://nobucket/x"}, opts); err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("missing bucket: %v", err)
	}
	if _, err := ExpandPaths(ctx, []string{"s3:///x"}, opts); err == nil {
		t.Error("bucketless URL accepted")
	}
}
