"""Every SymPy symbol of the theory, defined once with the assumptions the derivations rely on."""
import sympy as sp

# pre-activation of a node, z = w.x / sqrt(d); any real number
z = sp.Symbol("z", real=True)
# |x_par|, the distance of an input from the teacher's hyperplane; data averages integrate over it
x = sp.Symbol("x", positive=True)
# threshold at which a data average's integrand changes form (for the hinge: x*)
c = sp.Symbol("c", positive=True)
# auxiliary integration variable of the sphere law, v = x^2 / d
v = sp.Symbol("v", positive=True)

d = sp.Symbol("d", positive=True)
alpha = sp.Symbol("alpha", positive=True)
h = sp.Symbol("h", positive=True)
beta = sp.Symbol("beta", positive=True)
eps = sp.Symbol("epsilon", nonnegative=True)
sigma_a = sp.Symbol("sigma_a", positive=True)
sigma_w = sp.Symbol("sigma_w", positive=True)
leak = sp.Symbol("s", nonnegative=True)
kappa = sp.Symbol("kappa", nonnegative=True)
x_star = sp.Symbol("x^*", positive=True)
g = sp.Symbol("g", real=True)
t = sp.Symbol("t", nonnegative=True)

gamma = sp.Symbol("gamma", nonnegative=True)
gamma_plus = sp.Symbol("gamma_+", nonnegative=True)
gamma_minus = sp.Symbol("gamma_-", nonnegative=True)
# products prod_k (1 +/- beta g_k) of the discrete map
P_plus = sp.Symbol("P_+", positive=True)
P_minus = sp.Symbol("P_-", positive=True)
# their increments E_+- = P_+- - 1, the state the discrete map iterates
E_plus = sp.Symbol("E_+", real=True)
E_minus = sp.Symbol("E_-", real=True)

a = sp.Symbol("a", real=True)
w_par = sp.Symbol("w_par", real=True)
a0 = sp.Symbol("a_0", real=True)
w0 = sp.Symbol("w_0", real=True)
odd_slope = sp.Symbol("c_sigma", positive=True)

# finite width: number of nodes, the init-averaged second moments of a node at time t, |x_perp|^2, x_par
M = sp.Symbol("M", positive=True)
m_a2 = sp.Symbol("m_{a^2}", positive=True)
m_w2 = sp.Symbol("m_{w^2}", positive=True)
m_aw = sp.Symbol("m_{aw}", real=True)
r2 = sp.Symbol("r^2", positive=True)
x_par = sp.Symbol("x_par", real=True)
y_par = sp.Symbol("y_par", real=True)    # a second x_par: node averages that couple two points

# finite sample: the number of training examples, the unsatisfied probability P_U and the clean drift B at time t
N_sample = sp.Symbol("N", positive=True)
P_unsat = sp.Symbol("P_U", nonnegative=True)
drift_B = sp.Symbol("B", nonnegative=True)
