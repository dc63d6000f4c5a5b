/* util_net.c — addresses, ports and CIDR networks.
 *
 * Does: parse "host:port" / "[v6]:port" listen addresses, CIDR lists for
 * allow/deny rules, and match peers against them (IPv4-mapped IPv6 peers match
 * IPv4 rules).  Does not: resolve names: listen addresses are numeric so a
 * misconfigured DNS can never move a listener off loopback.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vellum/util.h"

util_status_t util_cidr_parse(const char *s, cidr_t *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof host)
		return UTIL_EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(out, 0, sizeof *out);
	int max;
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return UTIL_EINVAL;
	}
	out->prefix = (uint8_t)max;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || p < 0 || p > max)
			return UTIL_EINVAL;
		out->prefix = (uint8_t)p;
	}
	return UTIL_OK;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rem = bits % 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	if (!rem)
		return true;
	uint8_t mask = (uint8_t)(0xFF << (8 - rem));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool util_cidr_match(const cidr_t *nets, size_t n, const struct sockaddr *sa)
{
	uint8_t v4[4], v6[16];
	bool have4 = false, have6 = false;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		have4 = true;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		memcpy(v6, a, 16);
		have6 = true;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(v4, v6 + 12, 4);
			have4 = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (nets[i].family == AF_INET && have4 && prefix_eq(nets[i].addr, v4, nets[i].prefix))
			return true;
		if (nets[i].family == AF_INET6 && have6 && prefix_eq(nets[i].addr, v6, nets[i].prefix))
			return true;
	}
	return false;
}

util_status_t util_hostport_parse(const char *s, struct sockaddr_storage *out, size_t *outlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	memset(out, 0, sizeof *out);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
			return UTIL_EINVAL;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof host || strchr(s, ':') != colon)
			return UTIL_EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		return UTIL_EINVAL;
	struct sockaddr_in *in4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		*outlen = sizeof *in4;
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*outlen = sizeof *in6;
	} else {
		return UTIL_EINVAL;
	}
	return UTIL_OK;
}

void util_sockaddr_format(const struct sockaddr *sa, char *addr, size_t n, int *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in4->sin_addr, addr, (socklen_t)n);
		if (port)
			*port = ntohs(in4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, (const uint8_t *)&in6->sin6_addr + 12, addr, (socklen_t)n);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)n);
		if (port)
			*port = ntohs(in6->sin6_port);
	} else if (sa->sa_family == AF_UNIX) {
		snprintf(addr, n, "local");
		if (port)
			*port = 0;
	} else {
		snprintf(addr, n, "unknown");
		if (port)
			*port = 0;
	}
}

bool util_sockaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_UNIX)
		return true;
	if (sa->sa_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr)[0] == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}
