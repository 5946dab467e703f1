/* A libmodbus Modbus/TCP server for otscout's interop test (tests/it/interop.rs).
 *
 * Third-party server code: every reply is libmodbus's own modbus_reply(), which has no
 * Read Device Identification and answers function 0x2B with exception 0x01 (illegal
 * function), as many devices built on libmodbus do. This file only accepts one
 * connection at a time and logs what arrives.
 *
 * Build: cc -o libmodbus_server libmodbus_server.c $(pkg-config --cflags --libs libmodbus)
 * Usage: libmodbus_server HOST PORT
 * Prints "READY <libmodbus version>" once listening, then one line per event:
 * "connect", "rx <hex>", "disconnect".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <modbus.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    modbus_t *ctx = modbus_new_tcp(argv[1], atoi(argv[2]));
    modbus_mapping_t *map = modbus_mapping_new(8, 8, 8, 8);
    if (ctx == NULL || map == NULL) {
        fprintf(stderr, "libmodbus: %s\n", modbus_strerror(errno));
        return 1;
    }
    int listener = modbus_tcp_listen(ctx, 1);
    if (listener < 0) {
        fprintf(stderr, "listen: %s\n", modbus_strerror(errno));
        return 1;
    }
    printf("READY %s\n", LIBMODBUS_VERSION_STRING);
    fflush(stdout);
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    for (;;) {
        if (modbus_tcp_accept(ctx, &listener) < 0) {
            fprintf(stderr, "accept: %s\n", modbus_strerror(errno));
            return 1;
        }
        printf("connect\n");
        fflush(stdout);
        for (;;) {
            int n = modbus_receive(ctx, query);
            if (n < 0) {
                break;
            }
            printf("rx ");
            for (int i = 0; i < n; i++) {
                printf("%02x", query[i]);
            }
            printf("\n");
            fflush(stdout);
            if (n > 0 && modbus_reply(ctx, query, n, map) < 0) {
                break;
            }
        }
        printf("disconnect\n");
        fflush(stdout);
        modbus_close(ctx);
    }
}
