package p;
/** doc */
@interface Ann { int v() default 1; }
record R(int x, String... ys) { R { } static int f(int[] a, java.util.List<String> b) { return 0; } }
enum E { A { void g() {} }, B; int n; E() {} void h() {} }
interface I { default void d() {} int f(); class Inner { Inner(int a) {} } }
class C<T extends Comparable<T>> { C() { new Object() { void anon() {} }; } void m(@Ann(v=2) final T t, String args[]) {} }
