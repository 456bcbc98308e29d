package source

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Client builds a client from the usual AWS settings (environment,
// shared config, instance role). An endpoint selects an S3-compatible
// server, addressed path-style as those servers expect.
func s3Client(ctx context.Context, opts SourceOptions) (*s3.Client, error) {
	region := opts.S3Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("s3 configuration: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.S3Endpoint)
			o.UsePathStyle = true
		}
		// S3-compatible servers rarely send the newer checksums.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	}), nil
}

// parseS3 splits s3://bucket/prefix.
func parseS3(u string) (bucket, prefix string, err error) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "s3" || p.Host == "" {
		return "", "", fmt.Errorf("bad S3 location %q: want s3://bucket/prefix", u)
	}
	return p.Host, strings.TrimPrefix(p.Path, "/"), nil
}

// listS3 lists the flow-log objects under s3://bucket/prefix (every page;
// AWS delivers files every 5 minutes, so prefixes hold many).
func listS3(ctx context.Context, loc string, opts SourceOptions) ([]Input, error) {
	bucket, prefix, err := parseS3(loc)
	if err != nil {
		return nil, err
	}
	cl, err := s3Client(ctx, opts)
	if err != nil {
		return nil, err
	}
	var out []Input
	pages := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", loc, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !flowLogFile(key) {
				continue
			}
			out = append(out, s3Input(cl, bucket, key, aws.ToInt64(o.Size)))
		}
	}
	return out, nil
}

func s3Input(cl *s3.Client, bucket, key string, size int64) Input {
	return Input{Name: "s3://" + bucket + "/" + key, Size: size, open: func(ctx context.Context) (io.ReadCloser, error) {
		o, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
		}
		return o.Body, nil
	}}
}
