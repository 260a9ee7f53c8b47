/* Startup code for the course's emulated Cortex-M programs (M0+, M4F, M55).
 *
 * Vector table (initial stack pointer, reset handler), a reset handler that copies .data from
 * flash, zeroes .bss and turns the FPU on where the core has one, then runs fw_run() once and
 * ends through semihosting (SYS_EXIT, "bkpt 0xAB"). The emulator also calls fw_run() directly,
 * once per input, after the reset handler has initialised memory.
 *
 * marker_start / marker_stop bracket one inference: the emulator counts the instructions executed
 * between them. marker_layer(i) is called by generated models between layers (weak: a program
 * without layers need not define it). The markers are noinline and empty; their own few
 * instructions are part of the count.
 */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;

int model_invoke(void);
void Reset_Handler(void);

/* One-time set-up a program may define (tables, instances); runs in the reset handler. */
__attribute__((weak)) void model_init(void) {}

void Default_Handler(void) { for (;;) {} }

__attribute__((section(".vectors"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))&__stack_top, Reset_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, Default_Handler,
};

__attribute__((noinline, used)) void marker_start(void) { __asm volatile("" ::: "memory"); }
__attribute__((noinline, used)) void marker_stop(void) { __asm volatile("" ::: "memory"); }
__attribute__((weak, noinline, used)) void marker_layer(int i) { (void)i; __asm volatile("" ::: "memory"); }

volatile int32_t g_status;

/* One inference between the two markers; the emulator enters here for every input. */
__attribute__((noinline, used)) void fw_run(void) {
    marker_start();
    g_status = model_invoke();
    marker_stop();
}

/* The emulator stops when the program reaches this address. */
__attribute__((noinline, used)) void fw_halt(void) { for (;;) { __asm volatile("" ::: "memory"); } }

static void semihost_exit(void) {
    register uint32_t r0 __asm("r0") = 0x18u;    /* SYS_EXIT */
    register uint32_t r1 __asm("r1") = 0x20026u; /* ADP_Stopped_ApplicationExit */
    __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
}

__attribute__((noinline, used)) void fw_init_done(void) { __asm volatile("" ::: "memory"); }

void Reset_Handler(void) {
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CPACR: full access to CP10/CP11 (the FPU) */
    __asm volatile("dsb\n isb" ::: "memory");
#endif
    model_init();
    fw_init_done();
    fw_run();
    semihost_exit();
    fw_halt();
}
