/* test_util.c — units, time, buffers, CIDR, lists, UTF-8, atomic files. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "tap.h"
#include "vellum/log.h"
#include "vellum/util.h"

static void test_sizes(void)
{
	uint64_t v;
	ok(util_parse_size("256M", &v) == UTIL_OK && v == 256u << 20, "256M");
	ok(util_parse_size("64K", &v) == UTIL_OK && v == 65536, "64K");
	ok(util_parse_size("1G", &v) == UTIL_OK && v == 1u << 30, "1G");
	ok(util_parse_size("1 g", &v) == UTIL_OK && v == 1u << 30, "1 g, lower case, space");
	ok(util_parse_size("1000", &v) == UTIL_OK && v == 1000, "plain bytes");
	ok(util_parse_size("12Q", &v) == UTIL_EINVAL, "unknown unit refused");
	ok(util_parse_size("", &v) == UTIL_EINVAL, "empty refused");
	ok(util_parse_size("-1M", &v) == UTIL_EINVAL, "negative refused");
	ok(util_parse_size("99999999999999999999", &v) == UTIL_ERANGE, "overflow refused");
	ok(util_parse_size("17179869184G", &v) == UTIL_ERANGE, "unit overflow refused");
	ok(util_parse_size("1M junk", &v) == UTIL_EINVAL, "trailing junk refused");
}

static void test_durations(void)
{
	util_duration_t d;
	ok(util_parse_duration("30s", &d) == UTIL_OK && d.seconds == 30, "30s");
	ok(util_parse_duration("5min", &d) == UTIL_OK && d.seconds == 300, "5min");
	ok(util_parse_duration("12h", &d) == UTIL_OK && d.seconds == 43200, "12h");
	ok(util_parse_duration("1d", &d) == UTIL_OK && d.seconds == 86400, "1d");
	ok(util_parse_duration("2w", &d) == UTIL_OK && d.seconds == 14 * 86400, "2w");
	ok(util_parse_duration("6mo", &d) == UTIL_OK && d.months == 6 && !d.seconds, "6mo");
	ok(util_parse_duration("7y", &d) == UTIL_OK && d.months == 84, "7y");
	ok(util_parse_duration("permanent", &d) == UTIL_OK && d.forever, "permanent");
	ok(util_parse_duration("5m", &d) == UTIL_EINVAL, "ambiguous 'm' refused");
	ok(util_parse_duration("h", &d) == UTIL_EINVAL, "unit without number refused");
	ok(util_parse_duration("3", &d) == UTIL_EINVAL, "number without unit refused");

	int64_t t;
	ok(util_time_parse("2024-01-31", &t) == UTIL_OK, "parse date");
	util_parse_duration("1mo", &d);
	char out[UTIL_TIME_MAX];
	util_time_format(util_duration_add(t, &d), false, out);
	is_str(out, "2024-02-29T00:00:00Z", "31 Jan + 1mo = 29 Feb (leap year, calendar)");
	util_parse_duration("1y", &d);
	ok(util_time_parse("2024-02-29T10:00:00Z", &t) == UTIL_OK, "parse date-time");
	util_time_format(util_duration_add(t, &d), false, out);
	is_str(out, "2025-02-28T10:00:00Z", "29 Feb + 1y = 28 Feb");
	util_time_format(util_duration_sub(t, &d), false, out);
	is_str(out, "2023-02-28T10:00:00Z", "29 Feb - 1y = 28 Feb");
	char f[32];
	util_parse_duration("24h", &d);
	util_duration_format(&d, f, sizeof f);
	is_str(f, "1d", "format 24h as 1d");
}

static void test_times(void)
{
	int64_t t;
	char out[UTIL_TIME_MAX];
	ok(util_time_parse("2024-03-01T12:30:00+02:00", &t) == UTIL_OK, "offset parses");
	util_time_format(t, false, out);
	is_str(out, "2024-03-01T10:30:00Z", "offset applied");
	ok(util_time_parse("2024-02-30", &t) == UTIL_ERANGE, "30 Feb refused");
	ok(util_time_parse("2024-13-01", &t) == UTIL_ERANGE, "month 13 refused");
	ok(util_time_parse("2024-03", &t) == UTIL_EINVAL, "partial date is not a time");
	ok(util_time_parse("2024-03-01T1", &t) == UTIL_EINVAL, "truncated time refused");
	ok(util_time_parse("1969-12-31T23:59:59.5Z", &t) == UTIL_OK && t == -500000,
	   "before the epoch with fraction");
	util_time_format(-500000, true, out);
	is_str(out, "1969-12-31T23:59:59.500000Z", "format before the epoch");
}

static void test_buf(void)
{
	buf_t b = {0};
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	ok(b.len > 3000 && b.data[b.len] == '\0', "buffer grows and stays terminated");
	buf_append(&b, "\0x", 2);
	ok(b.data[b.len - 2] == 0 && b.data[b.len - 1] == 'x', "NUL bytes kept");
	char *s = buf_steal(&b);
	ok(b.data == NULL && b.len == 0 && !strncmp(s, "0,1,2,", 6), "steal");
	free(s);
	size_t out;
	ok(!util_mul_ok(SIZE_MAX / 2 + 1, 2, &out), "multiplication overflow detected");
	ok(util_mul_ok(1000, 1000, &out) && out == 1000000, "multiplication");
}

static void test_lists(void)
{
	size_t n;
	char **v = util_split_list(" a, b  c,,d ", &n);
	ok(n == 4 && !strcmp(v[0], "a") && !strcmp(v[3], "d") && v[4] == NULL, "split list");
	util_strv_free(v);
	v = util_split_list("", &n);
	ok(n == 0 && v[0] == NULL, "empty list");
	util_strv_free(v);
	uint8_t bin[4] = {0xde, 0xad, 0xbe, 0xef}, back[4];
	char hex[9];
	util_hex(bin, 4, hex);
	is_str(hex, "deadbeef", "hex");
	ok(util_unhex("DEADbeef", back, 4) == UTIL_OK && !memcmp(bin, back, 4), "unhex");
	ok(util_unhex("deadbee", back, 4) == UTIL_EINVAL, "odd hex refused");
	ok(util_unhex("deadbeeg", back, 4) == UTIL_EINVAL, "bad hex digit refused");
}

static void test_names(void)
{
	ok(util_name_valid("default") && util_name_valid("legal-2024.hr_x"), "valid names");
	ok(!util_name_valid("") && !util_name_valid(NULL), "empty refused");
	ok(!util_name_valid("_audit"), "leading '_' reserved for logs");
	ok(!util_name_valid("-x") && !util_name_valid(".x"), "leading punctuation refused");
	ok(!util_name_valid("Legal") && !util_name_valid("a b") && !util_name_valid("a/b"),
	   "upper case, space, slash refused");
	char long_name[UTIL_NAME_MAX + 2];
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	ok(!util_name_valid(long_name), "over 64 bytes refused");
	long_name[UTIL_NAME_MAX] = '\0';
	ok(util_name_valid(long_name), "64 bytes accepted");
}

static void test_utf8(void)
{
	ok(util_utf8_valid((const uint8_t *)"h\xc3\xa9llo", 6), "valid UTF-8");
	ok(!util_utf8_valid((const uint8_t *)"\xc0\xaf", 2), "overlong refused");
	ok(!util_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3), "surrogate refused");
	ok(!util_utf8_valid((const uint8_t *)"\xe2\x82", 2), "truncated refused");
	ok(!util_utf8_valid((const uint8_t *)"\xff", 1), "0xff refused");
}

static void test_cidr(void)
{
	cidr_t nets[3];
	ok(util_cidr_parse("10.0.0.0/8", &nets[0]) == UTIL_OK, "parse v4 cidr");
	ok(util_cidr_parse("2001:db8::/32", &nets[1]) == UTIL_OK, "parse v6 cidr");
	ok(util_cidr_parse("192.168.1.7", &nets[2]) == UTIL_OK && nets[2].prefix == 32,
	   "host is /32");
	cidr_t bad;
	ok(util_cidr_parse("10.0.0.0/33", &bad) == UTIL_EINVAL, "prefix too long refused");
	ok(util_cidr_parse("10.0.0/8", &bad) == UTIL_EINVAL, "short v4 refused");
	ok(util_cidr_parse("host.example/8", &bad) == UTIL_EINVAL, "names refused");

	struct sockaddr_in in4 = {.sin_family = AF_INET};
	inet_pton(AF_INET, "10.1.2.3", &in4.sin_addr);
	ok(util_cidr_match(nets, 3, (struct sockaddr *)&in4), "10.1.2.3 in 10/8");
	inet_pton(AF_INET, "11.1.2.3", &in4.sin_addr);
	ok(!util_cidr_match(nets, 3, (struct sockaddr *)&in4), "11.1.2.3 not in list");
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "::ffff:10.9.9.9", &in6.sin6_addr);
	ok(util_cidr_match(nets, 3, (struct sockaddr *)&in6), "v4-mapped v6 matches v4 rule");
	inet_pton(AF_INET6, "2001:db8:1::5", &in6.sin6_addr);
	ok(util_cidr_match(nets, 3, (struct sockaddr *)&in6), "v6 in 2001:db8::/32");
	ok(!util_sockaddr_is_loopback((struct sockaddr *)&in6), "not loopback");
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	ok(util_sockaddr_is_loopback((struct sockaddr *)&in6), "::1 is loopback");

	struct sockaddr_storage ss;
	size_t sl;
	ok(util_hostport_parse("127.0.0.1:2525", &ss, &sl) == UTIL_OK, "host:port");
	ok(util_hostport_parse("[::1]:0", &ss, &sl) == UTIL_OK && ss.ss_family == AF_INET6,
	   "[v6]:port");
	ok(util_hostport_parse("::1:25", &ss, &sl) == UTIL_EINVAL, "bare v6 refused");
	ok(util_hostport_parse("localhost:25", &ss, &sl) == UTIL_EINVAL, "names refused");
	ok(util_hostport_parse("127.0.0.1:65536", &ss, &sl) == UTIL_EINVAL, "port range");
}

static void test_files(void)
{
	char *dir = tap_tmpdir("util");
	char *sub = util_path_join(dir, "a/b/c");
	ok(util_mkdir_p(sub, 0700) == UTIL_OK, "mkdir -p");
	char *f = util_path_join(sub, "file");
	ok(util_write_file_atomic(f, "hello", 5, 0600) == UTIL_OK, "atomic write");
	buf_t b = {0};
	ok(util_read_file(f, 100, &b) == UTIL_OK && b.len == 5 && !memcmp(b.data, "hello", 5),
	   "read back");
	buf_reset(&b);
	ok(util_read_file(f, 4, &b) == UTIL_ETOOBIG, "size limit enforced");
	struct stat st;
	ok(stat(f, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	char *missing = util_path_join(dir, "nope");
	ok(util_read_file(missing, 100, &b) == UTIL_ENOENT, "missing file");
	char *d = util_dirname("/a/b/c");
	is_str(d, "/a/b", "dirname");
	free(d);
	char *j = util_path_join("/base", "./rel");
	is_str(j, "/base/rel", "join strips ./");
	free(j);
	buf_free(&b);
	free(missing);
	free(f);
	free(sub);
	tap_rmtree(dir);
	free(dir);
}

static void test_log_quote(void)
{
	char b[64];
	is_str(log_q(b, sizeof b, "plain"), "plain", "plain token unquoted");
	is_str(log_q(b, sizeof b, "a b"), "\"a b\"", "space quoted");
	is_str(log_q(b, sizeof b, "x\r\ny=\"1\""), "\"x\\r\\ny=\\\"1\\\"\"",
	       "CRLF and quotes escaped: no forged fields or lines");
	char small[12];
	log_q(small, sizeof small, "a very long value with spaces");
	ok(strlen(small) < sizeof small && strstr(small, "..."), "truncated with ...");
}

int main(void)
{
	test_sizes();
	test_durations();
	test_times();
	test_buf();
	test_lists();
	test_names();
	test_utf8();
	test_cidr();
	test_files();
	test_log_quote();
	return tap_done();
}
