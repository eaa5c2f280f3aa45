// Interleaved A/B of two builds of gemm.c on the band-sized shapes Lite0's fused blocks run
// (Scripts/dev/gemm-ab compiles and runs it): each round times the base then the variant, so
// the machine's drift (30-40% minute to minute on the development VM) hits both alike; the
// verdict is the median of the per-round ratios and the best (min) rate of each. The variant's
// products must equal the base's to the bit (maxdiff 0) for a change that keeps predictions.
#include "DxKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
void v_gemm_packed(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed, const float *a_scale, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, const float *residual, float *sums);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
// argv[1]: rounds (default 11); argv[2] "family": the B-family's SE-gated projections (the
// gate a column scale of `a`) and deep products instead, at one core's share of batch 1-2.
int main(int argc, char **argv) {
  int lite[][5]={{196,80,480,1,0},{56,480,80,0,0},{196,112,672,1,0},{56,672,112,0,0},{49,192,1152,1,0},{28,1152,192,0,0},{21,1152,192,0,0},{336,40,240,1,0},{448,24,144,1,0},{1344,16,96,1,0}};
  int family[][5]={{180,2304,384,0,1},{180,3840,640,0,1},{113,1824,304,0,1},{113,3072,512,0,1},{421,1056,176,0,1},{722,1344,224,0,1},{98,1152,192,0,1},{421,176,1056,1,0},{180,384,2304,1,0}};
  int fam=argc>2&&strcmp(argv[2],"family")==0;
  int (*shapes)[5]=fam?family:lite;
  int ns=fam?(int)(sizeof family/sizeof family[0]):(int)(sizeof lite/sizeof lite[0]);
  double gb=0,gv=0; int R=argc>1?atoi(argv[1]):11;
  for(int s=0;s<ns;s++){
    int M=shapes[s][0],K=shapes[s][1],N=shapes[s][2],act=shapes[s][3];
    float*g=NULL;
    if(shapes[s][4]){g=malloc(4*K);for(int i=0;i<K;i++)g[i]=0.25f+(float)((i*3)%7)/7;}
    float*a=aligned_alloc(64,sizeof(float)*M*K+64),*b=malloc(sizeof(float)*K*N),*c=aligned_alloc(64,sizeof(float)*M*N+64),*c2=aligned_alloc(64,sizeof(float)*M*N+64),*bias=malloc(4*N);
    float*p=aligned_alloc(64,sizeof(float)*dx_gemm_packed_count(K,N));
    for(long i=0;i<(long)M*K;i++)a[i]=(float)((i*7)%13)/13-0.5f;
    for(long i=0;i<(long)K*N;i++)b[i]=(float)((i*5)%11)/11-0.5f;
    for(int i=0;i<N;i++)bias[i]=0.1f;
    dx_gemm_pack(b,N,K,N,p);
    dx_gemm_packed(a,K,M,K,N,p,g,c,N,bias,act?DX_ACT_RELU6:DX_ACT_NONE,NULL,NULL);
    v_gemm_packed(a,K,M,K,N,p,g,c2,N,bias,act?DX_ACT_RELU6:DX_ACT_NONE,NULL,NULL);
    double maxd=0; for(long i=0;i<(long)M*N;i++){double d=c[i]-c2[i]; if(d<0)d=-d; if(d>maxd)maxd=d;}
    int reps=(int)(1e8/(2.0*M*K*N))+1;
    double tb[64],tv[64],ratio[64];
    for(int r=0;r<R;r++){
      double t0=now();for(int i=0;i<reps;i++)dx_gemm_packed(a,K,M,K,N,p,g,c,N,bias,act?DX_ACT_RELU6:DX_ACT_NONE,NULL,NULL);tb[r]=(now()-t0)/reps;
      t0=now();for(int i=0;i<reps;i++)v_gemm_packed(a,K,M,K,N,p,g,c2,N,bias,act?DX_ACT_RELU6:DX_ACT_NONE,NULL,NULL);tv[r]=(now()-t0)/reps;
      ratio[r]=tb[r]/tv[r];
    }
    qsort(tb,R,sizeof(double),cmp);qsort(tv,R,sizeof(double),cmp);qsort(ratio,R,sizeof(double),cmp);
    double f=2.0*M*K*N/1e9; gb+=f/tb[0]; gv+=f/tv[0];
    free(a);free(b);free(c);free(c2);free(bias);free(p);free(g);
    printf("M%5d K%5d N%5d%s  base %6.1f  variant %6.1f GFLOP/s (min)  speedup median %.3f  maxdiff %g\n",M,K,N,g?" gated":"",f/tb[0],f/tv[0],ratio[R/2],maxd);
  }
  printf("mean base %.1f variant %.1f\n",gb/ns,gv/ns);
}
